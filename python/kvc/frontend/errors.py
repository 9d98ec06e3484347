"""Frontend errors: what went wrong, where in the model's source, what to do."""

from __future__ import annotations

import os
import re

_FRAME = re.compile(r'File "([^"]+)", line (\d+), in ([^\n]+)\n\s*([^\n]*)')

# Frames in these trees are library plumbing, not the model's own source.
_PLUMBING = (
    os.sep + os.path.join("torch", ""),
    os.sep + os.path.join("torch_mlir", ""),
    os.sep + os.path.join("kvc", "frontend", ""),
)


class CompileError(Exception):
    """The model cannot be compiled as written. The message names the op, the
    model's source line, and what to do about it."""

    def __init__(self, message: str, *, op: str | None = None, source: str | None = None):
        super().__init__(message)
        self.op = op
        self.source = source


def frames(stack_trace: str | None) -> list[tuple[str, int, str, str]]:
    """(file, line, function, code) of each frame of an FX node's stack trace, outermost first."""
    if not stack_trace:
        return []
    return [(f, int(line), fn.strip(), code.strip()) for f, line, fn, code in _FRAME.findall(stack_trace)]


def source_line(stack_trace: str | None) -> str | None:
    """``file:line (in fn): code`` of the innermost frame that belongs to the model
    (not to torch, torch-mlir or the kvc frontend); None if the trace has no frame."""
    fr = frames(stack_trace)
    if not fr:
        return None
    own = [f for f in fr if not any(p in f[0] for p in _PLUMBING)]
    file, line, fn, code = (own or fr)[-1]
    return f"{file}:{line} (in {fn}): {code}"
