"""One MLIR context for kvc: upstream dialects plus kvc's IRDL dialects.

The upstream dialects come registered with the LLVM 22 Python bindings; kvc's
dialects are the ``dialects/*.irdl.mlir`` files, loaded with
``irdl.load_dialects`` once per context (the file text is read once per process).
"""

from __future__ import annotations

import functools
from importlib import resources

from mlir import ir
from mlir.dialects import irdl

KVC_DIALECTS = ("lowbit", "kvcache", "kvsparse", "pim")


@functools.cache
def irdl_source(dialect: str) -> str:
    """The IRDL text of one kvc dialect, as shipped in ``kvc.dialects``."""
    return resources.files("kvc.dialects").joinpath(f"{dialect}.irdl.mlir").read_text()


def irdl_path(dialect: str) -> str:
    """Filesystem path of a dialect's IRDL file (for upstream ``mlir-opt --irdl-file``)."""
    return str(resources.files("kvc.dialects").joinpath(f"{dialect}.irdl.mlir"))


def available_dialects() -> tuple[str, ...]:
    return tuple(d for d in KVC_DIALECTS if resources.files("kvc.dialects").joinpath(f"{d}.irdl.mlir").is_file())


def load_kvc_dialects(context: ir.Context) -> None:
    """Load every kvc IRDL dialect into ``context`` (idempotent per context)."""
    if getattr(context, "_kvc_loaded", False):
        return
    with context, ir.Location.unknown():
        for dialect in available_dialects():
            irdl.load_dialects(ir.Module.parse(irdl_source(dialect)))
    context._kvc_loaded = True


def make_context(*, multithreading: bool = True) -> ir.Context:
    """A fresh context with upstream and kvc dialects loaded."""
    context = ir.Context()
    if not multithreading:
        context.enable_multithreading(False)
    load_kvc_dialects(context)
    return context
