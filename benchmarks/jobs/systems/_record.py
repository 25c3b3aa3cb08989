"""What every system's job does: append ``<index> <epoch seconds>`` to this process's file.

One unbuffered ``write`` per job (page cache, no fsync): the same few microseconds for every
library, and lossless, unlike a datagram. The runner reads the files to see which job ran, how
often and when it started.
"""

import os
import time

_fd: int | None = None


def record(index: int) -> None:
    global _fd
    now = time.time()
    if _fd is None:
        path = os.path.join(os.environ["BENCH_OUT"], f"{os.getpid()}.log")
        _fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(_fd, b"%d %.6f\n" % (index, now))


def concurrency() -> int:
    return int(os.environ.get("BENCH_CONCURRENCY", "10"))
