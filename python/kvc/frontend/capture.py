"""Capture: nn.Module + example inputs -> an FX graph with kvc's semantic units.

1. ``torch.export`` (non-strict) gives an FX graph whose parameters, buffers
   and lifted constants are placeholders (the graph signature says which).
2. Semantic units are recognised while they are still visible as torch ops:
   every ``aten.linear`` whose weight is a model parameter becomes
   ``kvc::linear`` (+ a separate bias add). Cache writes and reads are already
   ``kvc::cache_write`` / ``kvc::cache_read`` calls (emitted by the model code
   or by :mod:`kvc.frontend.llm`'s attention hook).
3. ``run_decompositions`` with torch-mlir's table reduces the rest to the ops
   torch-mlir lowers; the kvc ops are opaque to it and survive.
4. Every remaining op is checked against the torch dialect torch-mlir knows,
   so an unsupported op fails here with the model's source line.

The parameters never leave PyTorch: :class:`Captured` maps each weight
placeholder to its live tensor (no copy), and the importer turns placeholders
into function arguments.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field

import torch
from torch.export.graph_signature import InputKind, OutputKind

from kvc.frontend import ops as kvc_ops
from kvc.frontend.errors import CompileError, source_line


@dataclass
class GraphInput:
    placeholder: str  # FX placeholder name
    kind: str  # "input" | "weight"
    name: str  # user input name, or the weight's state-dict name
    tensor: torch.Tensor | None = None  # the live weight (inputs: None)


@dataclass
class Captured:
    program: torch.export.ExportedProgram
    inputs: list[GraphInput]
    output_names: list[str]
    linear_weights: dict[str, str] = field(default_factory=dict)  # kvc.linear node -> weight name
    fx_text: str = ""

    @property
    def weights(self) -> dict[str, torch.Tensor]:
        return {i.name: i.tensor for i in self.inputs if i.kind == "weight"}

    @property
    def user_inputs(self) -> list[GraphInput]:
        return [i for i in self.inputs if i.kind == "input"]


def export(model: torch.nn.Module, example_inputs: tuple, *, recognise_linears: bool = True) -> Captured:
    """Export ``model`` on ``example_inputs`` and rewrite it into kvc's FX form."""
    if not isinstance(example_inputs, (tuple, list)):
        example_inputs = (example_inputs,)
    try:
        with torch.no_grad(), quiet_treespec_warning():
            ep = torch.export.export(model, tuple(example_inputs), strict=False)
    except Exception as err:  # torch.export's own message says what and where
        raise CompileError(
            f"torch.export could not capture the model: {type(err).__name__}: {_first_lines(err)}\n"
            "hint: kvc compiles what torch.export can trace; make data-dependent control flow static "
            "or move it out of forward()."
        ) from err

    if recognise_linears:
        _recognise_linears(ep)
    from torch_mlir.extras.fx_decomp_util import get_decomposition_table

    with torch.no_grad(), quiet_treespec_warning():
        ep = ep.run_decompositions(get_decomposition_table())
    # node names change in run_decompositions: the linear -> weight map is derived afterwards
    sig = ep.graph_signature
    placeholder_to_weight = {}
    inputs: list[GraphInput] = []
    for spec in sig.input_specs:
        name = spec.arg.name
        if spec.kind == InputKind.USER_INPUT:
            inputs.append(GraphInput(name, "input", name))
        elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER):
            tensor = ep.state_dict.get(spec.target)
            if tensor is None:  # non-persistent buffer
                tensor = ep.constants[spec.target]
            inputs.append(GraphInput(name, "weight", spec.target, tensor.detach()))
            placeholder_to_weight[name] = spec.target
        elif spec.kind == InputKind.CONSTANT_TENSOR:
            inputs.append(GraphInput(name, "weight", spec.target, ep.constants[spec.target].detach()))
            placeholder_to_weight[name] = spec.target
        else:
            raise CompileError(f"unsupported graph input kind {spec.kind.name} for '{name}'")
    for spec in sig.output_specs:
        if spec.kind != OutputKind.USER_OUTPUT:
            raise CompileError(
                f"the model mutates '{spec.target}' ({spec.kind.name}) in forward(); kvc compiles functional "
                "forwards. hint: return the new value instead of assigning to a buffer (for KV caches use "
                "kvc.compile_llm, which makes the cache explicit state)."
            )
    linear_weights = {}
    for node in ep.graph.nodes:
        if node.op == "call_function" and node.target is torch.ops.kvc.linear.default:
            w = node.args[1]
            linear_weights[node.name] = placeholder_to_weight.get(getattr(w, "name", None), "")
    _check_supported(ep)
    outputs = [spec.arg.name for spec in sig.output_specs]
    return Captured(ep, inputs, outputs, linear_weights, ep.graph_module.print_readable(print_output=False))


@contextlib.contextmanager
def quiet_treespec_warning():
    """Silence one known torch 2.13 deprecation warning that torch.export triggers
    itself (``isinstance(treespec, LeafSpec)``, raised while it deep-copies its
    module call graph): it is not about the user's code and nothing they can act
    on. Only that message is filtered, only inside this block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`?isinstance\(treespec, LeafSpec\)`? is deprecated",
                                category=FutureWarning)
        yield


def _first_lines(err: Exception, n: int = 6) -> str:
    return "\n".join(str(err).strip().splitlines()[:n])


def _recognise_linears(ep: torch.export.ExportedProgram) -> dict[str, str]:
    """aten.linear(x, W[, b]) with W a parameter -> kvc.linear(x, W) (+ b).
    Returns kvc.linear node name -> weight name."""
    sig = ep.graph_signature
    weight_placeholders = {**sig.inputs_to_parameters, **sig.inputs_to_buffers}
    graph = ep.graph
    found = {}
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target is not torch.ops.aten.linear.default:
            continue
        x, w = node.args[0], node.args[1]
        bias = node.args[2] if len(node.args) > 2 else node.kwargs.get("bias")
        if getattr(w, "op", None) != "placeholder" or w.name not in weight_placeholders:
            continue  # a computed weight stays a plain linear (torch-mlir lowers it)
        if w.meta["val"].dim() != 2:
            continue
        with graph.inserting_before(node):
            y = graph.call_function(torch.ops.kvc.linear.default, (x, w))
            y.meta = dict(node.meta)
            out = y
            if bias is not None:
                out = graph.call_function(torch.ops.aten.add.Tensor, (y, bias))
                out.meta = dict(node.meta)
        node.replace_all_uses_with(out)
        graph.erase_node(node)
        found[y.name] = weight_placeholders[w.name]
    graph.lint()
    ep.graph_module.recompile()
    return found


def _check_supported(ep: torch.export.ExportedProgram) -> None:
    """Every op must be one torch-mlir's torch dialect knows (or a kvc op)."""
    from torch_mlir import ir as tir
    from torch_mlir.dialects import torch as torch_d
    from torch_mlir.extras.fx_importer import _get_mlir_op_name_for_schema

    ctx = tir.Context()
    torch_d.register_dialect(ctx)
    for node in ep.graph.nodes:
        if node.op != "call_function" or not isinstance(node.target, torch._ops.OpOverload):
            continue
        if node.target.namespace == "kvc":
            continue
        name = _get_mlir_op_name_for_schema(node.target._schema)
        if not ctx.is_registered_operation(name):
            raise unsupported_op_error(str(node.target), node.meta.get("stack_trace"), stage="import")


def unsupported_op_error(op: str, stack_trace: str | None, *, stage: str, detail: str = "",
                         where: str | None = None) -> CompileError:
    where = where or source_line(stack_trace) or "<no source location>"
    msg = (
        f"unsupported torch op '{op}' at {where}\n"
        f"  torch-mlir cannot {'import' if stage == 'import' else 'lower'} this op"
        + (f": {detail}" if detail else "")
        + "\n  hint: rewrite that line with supported ops (e.g. elementwise math, matmul, softmax, "
        "indexing), or wrap it in a torch.library custom op with a kvc lowering."
    )
    return CompileError(msg, op=op, source=where)


__all__ = ["Captured", "GraphInput", "export", "kvc_ops", "CompileError"]
