"""Diagnostics: located errors in the ``file:line:col: error: message`` form.

kvc code reports problems by raising :class:`KvcError` with the offending
operation (or a location); tools turn it into an MLIR diagnostic at that
location, so the message reads the same as an upstream verifier's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlir import ir


class KvcError(Exception):
    """An error located at an operation or location in the IR."""

    def __init__(self, message: str, where: "ir.Operation | ir.OpView | ir.Location | None" = None):
        super().__init__(message)
        self.message = message
        self.where = where

    @property
    def location(self) -> ir.Location | None:
        where = self.where
        if where is None:
            return None
        if isinstance(where, ir.Location):
            return where
        return where.location


class VerifyError(KvcError):
    """A kvc verifier rule failed."""


class PassError(KvcError):
    """A kvc pass could not transform the IR it was given."""


def describe_location(loc: ir.Location | None) -> str:
    """``file:line:col`` for a location (looking through name/callsite/fused)."""
    if loc is None:
        return "<unknown>"
    try:
        if loc.is_a_file():
            return f"{loc.filename}:{loc.start_line}:{loc.start_col}"
        if loc.is_a_name():
            return describe_location(loc.child_loc)
        if loc.is_a_callsite():
            return describe_location(loc.callee)
        if loc.is_a_fused():
            for inner in loc.locations:
                text = describe_location(inner)
                if text != "<unknown>":
                    return text
    except Exception:  # pragma: no cover - defensive on exotic locations
        pass
    return "<unknown>"


def file_line(loc: ir.Location | None) -> tuple[str, int] | None:
    text = describe_location(loc)
    if text == "<unknown>":
        return None
    file, line, _ = text.rsplit(":", 2)
    return file, int(line)


@dataclass
class Diagnostic:
    severity: str  # "error" | "warning" | "note" | "remark"
    location: str  # file:line:col
    message: str
    notes: list["Diagnostic"] = field(default_factory=list)

    def render(self) -> str:
        lines = [f"{self.location}: {self.severity}: {self.message}"]
        lines += [n.render() for n in self.notes]
        return "\n".join(lines)


_SEVERITY = {
    ir.DiagnosticSeverity.ERROR: "error",
    ir.DiagnosticSeverity.WARNING: "warning",
    ir.DiagnosticSeverity.NOTE: "note",
    ir.DiagnosticSeverity.REMARK: "remark",
}


def from_mlir(diag) -> Diagnostic:
    """Convert an ``ir.Diagnostic`` or a DiagnosticInfo from ``MLIRError``."""
    return Diagnostic(
        _SEVERITY.get(diag.severity, "error"),
        describe_location(diag.location),
        diag.message,
        [from_mlir(n) for n in diag.notes],
    )


class DiagnosticCollector:
    """Collects every diagnostic emitted in a context (used by kvc-opt and tests)."""

    def __init__(self, context: ir.Context):
        self.diagnostics: list[Diagnostic] = []
        self._handler = context.attach_diagnostic_handler(self._handle)

    def _handle(self, diag) -> bool:
        self.diagnostics.append(from_mlir(diag))
        return True

    def detach(self) -> None:
        self._handler.detach()

    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]
