"""kvc: an MLIR-based compiler for memory-efficient LLM inference.

Entry points: :func:`kvc.context.make_context` (an MLIR context with kvc's
dialects), ``kvc-opt`` (:mod:`kvc.opt`), the ``kvc`` driver (:mod:`kvc.cli`)
and the reference numerics in :mod:`kvc.formats`.

Importing ``kvc`` itself loads no MLIR: compiled artifacts run through
``kvc.load`` and the runtimes on machines without an MLIR install (e.g. a GPU
box with only torch). Compiler entry points import MLIR when first used.
"""

from __future__ import annotations

__version__ = "0.1.0"


def make_context(**kwargs):
    """An MLIR context with upstream and kvc dialects loaded (see kvc.context)."""
    from kvc.context import make_context as _make_context

    return _make_context(**kwargs)


_LAZY = {"compile": "kvc.api", "compile_llm": "kvc.api", "load": "kvc.api", "CompileError": "kvc.frontend.errors"}


def __getattr__(name):
    # kvc.compile / kvc.compile_llm / kvc.load import the compiler (and MLIR) on first use only.
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kvc' has no attribute {name!r}")
