"""A command on a pseudo-terminal, read with deadlines (pexpect without pexpect)."""

import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path


class Terminal:
    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            args, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
        )
        os.close(slave)
        self.output = ""

    def expect(self, text: str, timeout: float = 60) -> str:
        """Read until ``text`` has appeared after what earlier calls consumed; returns the
        output up to and including it."""
        deadline = time.monotonic() + timeout
        while text not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{text!r} did not appear within {timeout}s in:\n{self.output}"
                )
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    if self.process.poll() is not None:
                        raise AssertionError(f"exited before {text!r}:\n{self.output}")
                    continue
                self.output += chunk.decode(errors="replace").replace("\r\n", "\n")
        seen, _, self.output = self.output.partition(text)
        return seen + text

    def send(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def close(self) -> int:
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()
        finally:
            os.close(self.master)
