"""kvc passes, their registry, and pipelines that mix them with upstream passes.

A kvc pass is a class with a CLI ``name``, a one-line ``summary``, typed
``options`` and a ``run(module_op)`` method; ``@register_pass`` makes it known
to kvc-opt and to pipeline strings. In LLVM 22 a Python pass can be added to a
``PassManager`` but is not in the textual pass registry, so ``PassManager.parse``
does not know kvc pass names: :func:`parse_pipeline` splits a pipeline string
itself and :func:`run_pipeline` runs each element in turn - upstream elements
through ``PassManager.add(text)``, kvc passes as Python callables - with the
kvc verifier after every element.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mlir import ir, passmanager

from kvc.diagnostics import KvcError, PassError
from kvc.irdl_types import split_top_level
from kvc import verifier


# --------------------------------------------------------------------- options
@dataclass(frozen=True)
class Option:
    """A typed pass option (``kvc-pass{name=value}``)."""

    name: str
    type: type  # int, float, bool, str, or list (comma-separated strings)
    default: Any
    help: str
    choices: tuple[str, ...] | None = None

    def parse(self, text: str, pass_name: str) -> Any:
        try:
            if self.type is bool:
                if text.lower() in ("1", "true", "on", ""):
                    return True
                if text.lower() in ("0", "false", "off"):
                    return False
                raise ValueError(text)
            if self.type is list:
                return [t for t in text.split(",") if t]
            value = self.type(text)
        except ValueError:
            raise KvcError(f"pass '{pass_name}': option '{self.name}' expects {self.type.__name__}, got '{text}'") from None
        if self.choices and value not in self.choices:
            raise KvcError(f"pass '{pass_name}': option '{self.name}' must be one of {', '.join(self.choices)}; got '{text}'")
        return value


class KvcPass:
    """Base class of kvc passes. Subclasses set name, summary, options and define run()."""

    name: ClassVar[str]
    summary: ClassVar[str]
    options: ClassVar[tuple[Option, ...]] = ()

    def __init__(self, **values: Any):
        known = {o.name.replace("-", "_"): o for o in self.options}
        for key in values:
            if key not in known:
                raise KvcError(f"pass '{self.name}' has no option '{key.replace('_', '-')}'; options: {self.option_names()}")
        for key, option in known.items():
            setattr(self, key, values.get(key, option.default))

    @classmethod
    def option_names(cls) -> str:
        return ", ".join(o.name for o in cls.options) or "(none)"

    @classmethod
    def from_text(cls, text: str) -> "KvcPass":
        """Build from the option text inside ``{...}``: ``a=1 b=x`` (spaces or commas... see docs)."""
        values: dict[str, Any] = {}
        by_name = {o.name: o for o in cls.options}
        for item in _split_options(text):
            key, _, value = item.partition("=")
            key = key.strip()
            if key not in by_name:
                raise KvcError(f"pass '{cls.name}' has no option '{key}'; options: {cls.option_names()}")
            values[key.replace("-", "_")] = by_name[key].parse(value.strip(), cls.name)
        return cls(**values)

    def describe(self) -> str:
        opts = " ".join(f"{o.name}={getattr(self, o.name.replace('-', '_'))}" for o in self.options)
        return f"{self.name}{{{opts}}}" if opts else self.name

    def run(self, module: ir.Operation) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def _split_options(text: str) -> list[str]:
    # mlir-opt separates options with spaces; values of list options use commas.
    return [t for t in re.split(r"\s+", text.strip()) if t]


_PASSES: dict[str, type[KvcPass]] = {}


def register_pass(cls: type[KvcPass]) -> type[KvcPass]:
    if cls.name in _PASSES and _PASSES[cls.name] is not cls:
        raise ValueError(f"two kvc passes named {cls.name}")
    _PASSES[cls.name] = cls
    return cls


def registered_passes() -> dict[str, type[KvcPass]]:
    import kvc.passes  # noqa: F401  (importing the package registers every pass)

    return dict(sorted(_PASSES.items()))


# -------------------------------------------------------------------- pipelines
@dataclass
class PipelineElement:
    text: str  # as written, e.g. "canonicalize" or "func.func(cse)" or "lowbit-fold-qdq{x=1}"
    kvc_pass: KvcPass | None = None

    @property
    def label(self) -> str:
        return self.kvc_pass.describe() if self.kvc_pass else self.text


@dataclass
class Pipeline:
    elements: list[PipelineElement] = field(default_factory=list)

    def __str__(self) -> str:
        return "builtin.module(" + ",".join(e.text for e in self.elements) + ")"


_ELEMENT = re.compile(r"^([A-Za-z_][\w.\-]*)\s*(\{(.*)\})?\s*$", re.S)


def parse_pipeline(text: str) -> Pipeline:
    """Parse ``builtin.module(a, b{x=1}, func.func(c))`` (the anchor may be omitted)."""
    text = text.strip()
    if text.startswith("builtin.module(") and text.endswith(")"):
        text = text[len("builtin.module(") : -1]
    elif text.startswith("any(") and text.endswith(")"):
        text = text[4:-1]
    passes = registered_passes()
    elements = []
    for item in split_top_level(text):
        match = _ELEMENT.match(item)
        if match and match.group(1) in passes:
            elements.append(PipelineElement(item, passes[match.group(1)].from_text(match.group(3) or "")))
        else:
            if any(f"{name}" in re.findall(r"[\w.\-]+", item) for name in passes) and "(" in item:
                raise KvcError(
                    f"kvc passes run on the whole module: '{item}' nests one under another operation; "
                    "write it at the top level of builtin.module(...)"
                )
            elements.append(PipelineElement(item))
    return Pipeline(elements)


def pipeline_from_flags(flags: list[tuple[str, str | None]]) -> Pipeline:
    """Pipeline for pass flags given as (name, option text or None), in order."""
    parts = [name if not opts else f"{name}{{{opts}}}" for name, opts in flags]
    return parse_pipeline(",".join(parts))


def validate_pipeline(pipeline: Pipeline, context: ir.Context) -> None:
    """Fail early (before any input is read) on unknown upstream passes or bad options."""
    for element in pipeline.elements:
        if element.kvc_pass is None:
            _upstream_pm(element, context)


def _upstream_pm(element: PipelineElement, context: ir.Context) -> passmanager.PassManager:
    pm = passmanager.PassManager("builtin.module", context=context)
    try:
        pm.add(element.text)
    except ValueError as err:
        raise KvcError(f"unknown pass or bad pipeline element '{element.text}': {str(err).strip()}") from None
    return pm


def run_pipeline(
    module: ir.Module | ir.Operation,
    pipeline: Pipeline | str,
    *,
    verify_each: bool = True,
    after_each: Callable[[PipelineElement, ir.Operation], None] | None = None,
) -> None:
    """Run ``pipeline`` on ``module`` in place. Raises KvcError on failure
    (diagnostics already emitted to the context)."""
    if isinstance(pipeline, str):
        pipeline = parse_pipeline(pipeline)
    op = module.operation if isinstance(module, ir.Module) else module
    context = op.context
    for element in pipeline.elements:
        if element.kvc_pass is not None:
            try:
                element.kvc_pass.run(op)
            except KvcError as err:
                location = err.location or op.location
                location.emit_error(f"{element.kvc_pass.name}: {err.message}")
                raise PassError(f"pass '{element.kvc_pass.name}' failed", err.where) from None
        else:
            pm = _upstream_pm(element, context)
            try:
                pm.run(op)
            except Exception as err:
                raise PassError(f"pass pipeline element '{element.text}' failed: {_first_line(err)}") from None
        if verify_each and verifier.verify(op):
            raise PassError(f"kvc verifier failed after '{element.label}'")
        if after_each is not None:
            after_each(element, op)


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def run_kvc_pass(module: ir.Module | ir.Operation, name: str, **options: Any) -> None:
    """Convenience for Python callers: run one kvc pass by name with options."""
    cls = registered_passes().get(name)
    if cls is None:
        raise KvcError(f"no kvc pass named '{name}'", None)
    cls(**options).run(module.operation if isinstance(module, ir.Module) else module)


