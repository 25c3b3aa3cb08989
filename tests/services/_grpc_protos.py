"""The test service's Python code, generated from protos/inventory.proto with grpcio-tools
into a temporary folder put on ``sys.path`` (and removed at exit).

Generated at test time rather than committed: protoc's output pins the grpcio and
protobuf versions that generated it (``GRPC_GENERATED_VERSION``, the protobuf runtime
check), so committed code would break the suite whenever the lock moves either; the
.proto file is the source, as it is in an application.
"""

from __future__ import annotations

import atexit
import importlib
import shutil
import sys
import tempfile
from functools import cache
from pathlib import Path
from types import ModuleType

PROTOS = Path(__file__).parent / "protos"


@cache
def folder() -> Path:
    """Where the generated modules are (made on first call)."""
    from grpc_tools import protoc

    out = Path(tempfile.mkdtemp(prefix="bastion-grpc-"))
    atexit.register(shutil.rmtree, out, True)
    include = str(Path(protoc.__file__).parent / "_proto")
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTOS}",
            f"-I{include}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            str(PROTOS / "inventory.proto"),
        ]
    )
    if code != 0:
        raise RuntimeError(f"protoc failed ({code}) on {PROTOS / 'inventory.proto'}")
    sys.path.insert(0, str(out))
    return out


def generated() -> tuple[ModuleType, ModuleType]:
    """``inventory_pb2`` and ``inventory_pb2_grpc``."""
    folder()
    return importlib.import_module("inventory_pb2"), importlib.import_module("inventory_pb2_grpc")
