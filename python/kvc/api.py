"""``kvc.compile`` / ``kvc.compile_llm``: PyTorch models in, callable compiled modules out.

Data flow (docs/frontend.md): torch.export -> kvc semantic units as custom ops
(:mod:`kvc.frontend.capture`) -> torch-mlir import and lowering to
linalg-on-tensors (:mod:`kvc.frontend.torch_bridge`) -> kvc IR in the LLVM 22
context, weights quantized here when asked (:mod:`kvc.frontend.to_kvc`) ->
the target. Weights are function arguments all the way: they are bound to the
executable as numpy views of the model's own tensors (fp32) or as the packed
arrays of :mod:`kvc.formats` (quantized); they are never printed as IR.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from kvc.frontend.errors import CompileError

TARGETS = ("cpu", "cuda")


# ------------------------------------------------------------------ progress
class _Stages:
    """Times compile stages; prints a progress line for stages that are slow."""

    def __init__(self, progress: bool | None):
        self.times: dict[str, float] = {}
        self.progress = progress

    @contextlib.contextmanager
    def __call__(self, name: str, note: str = ""):
        start = time.perf_counter()
        if self.progress:
            print(f"[kvc] {name}{' ' + note if note else ''} ...", file=sys.stderr, flush=True)
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.times[name] = self.times.get(name, 0.0) + elapsed
            if self.progress:
                print(f"[kvc] {name}: {elapsed:.2f} s", file=sys.stderr, flush=True)


# ------------------------------------------------------------------- report
@dataclass
class Report:
    parameters: int
    bytes_before: int
    bytes_after: int
    formats: dict[str, int]  # format spec -> number of weights stored in it
    quantized: list = field(default_factory=list)  # kvc.frontend.to_kvc.QuantInfo
    stage_seconds: dict[str, float] = field(default_factory=dict)
    target: str = "cpu"
    notes: list[str] = field(default_factory=list)

    @property
    def compile_seconds(self) -> float:
        return sum(self.stage_seconds.values())

    def as_dict(self) -> dict:
        return {
            "parameters": self.parameters, "bytes_before": self.bytes_before, "bytes_after": self.bytes_after,
            "formats": dict(self.formats), "compile_seconds": self.compile_seconds,
            "stage_seconds": dict(self.stage_seconds), "target": self.target, "notes": list(self.notes),
        }

    def table(self) -> str:
        rows = [
            ("target", self.target),
            ("parameters", f"{self.parameters:,}"),
            ("weight bytes before", _mb(self.bytes_before)),
            ("weight bytes after", _mb(self.bytes_after)),
            ("compression", f"{self.bytes_before / max(self.bytes_after, 1):.2f}x"),
            ("formats", ", ".join(f"{k}: {v}" for k, v in self.formats.items())),
            ("compile time", f"{self.compile_seconds:.2f} s"),
        ]
        rows += [(f"  {k}", f"{v:.2f} s") for k, v in self.stage_seconds.items()]
        rows += [("note", n) for n in self.notes]
        width = max(len(r[0]) for r in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)

    def __str__(self) -> str:
        return self.table()


def _mb(n: int) -> str:
    return f"{n:,} B ({n / 2**20:.2f} MiB)"


def _unique_tensor_bytes(tensors) -> tuple[int, int]:
    seen, params, nbytes = set(), 0, 0
    for t in tensors:
        key = (t.data_ptr(), t.numel(), t.dtype)
        if key in seen:
            continue
        seen.add(key)
        params += t.numel()
        nbytes += t.numel() * t.element_size()
    return params, nbytes


def _make_report(model, plans, stages, target, weights) -> Report:
    params, before = _unique_tensor_bytes(p.detach() for p in model.parameters())
    seen, after = set(), 0
    formats: dict[str, int] = {}
    quantized, seen_q = [], set()
    for plan in plans:
        for name, array in plan.arrays.items():
            if name not in seen:
                seen.add(name)
                after += array.nbytes
        for q in plan.quantized:
            if q.weight not in seen_q:
                seen_q.add(q.weight)
                quantized.append(q)
                key = f"{q.format}:g{q.group_size}"
                formats[key] = formats.get(key, 0) + 1
    parts = {f"{q.weight}.{p}" for q in quantized for p in ("codes", "scales", "zeros", "meta")}
    unquantized = {n for n in seen if n not in parts}
    if unquantized:
        formats["f32 (not quantized)"] = len(unquantized)
    notes = []
    deq = sorted({n for plan in plans for n in plan.dequantized_for_other_uses})
    if deq:
        notes.append("also bound dequantized (used outside linears, e.g. tied embedding): " + ", ".join(deq))
    # buffers (RoPE tables ...) that are not parameters count in 'after' only
    return Report(params, before, after, formats, quantized, dict(stages.times), target, notes)


# -------------------------------------------------------------- executables
def _cpu_compile(module, *, entry, weights, opt_level: int, keep_ir: bool = True):
    """The cpu target. Arguments tagged ``kvc.cache`` (compile_llm's KV caches) are
    state there: updated in the caller's arrays, their results dropped."""
    from kvc.targets.cpu import compile_module

    return compile_module(module, entry=entry, weights=weights, opt_level=opt_level, keep_ir=keep_ir)


def _check_opt_level(opt_level) -> None:
    if isinstance(opt_level, bool) or not isinstance(opt_level, int) or not 0 <= opt_level <= 3:
        raise CompileError(f"opt_level must be an integer from 0 to 3, got {opt_level!r}")


def _to_numpy(x):
    if isinstance(x, torch.Tensor):
        x = x.detach()
        if x.device.type != "cpu":
            x = x.cpu()
        return x.contiguous().numpy()
    return np.asarray(x)


def _check_target(target: str):
    if target not in TARGETS:
        raise CompileError(f"target '{target}' is not supported by kvc.compile yet (available: {', '.join(TARGETS)})")


def _check_weights(weights: str | None) -> None:
    """Unknown format names fail before any work (kvc.formats names the valid ones)."""
    if weights is not None:
        from kvc import formats

        formats.get(weights)


def _check_unsupported(kv_cache, sparsity):
    if kv_cache is not None:
        raise CompileError("kv_cache policies (XQuant, quantized caches) are not wired into kvc.compile yet; "
                           "use kvc.compile_llm for explicit fp32 KV caches")
    if sparsity is not None:
        raise CompileError("sparsity is not wired into kvc.compile yet")


# ------------------------------------------------------------------ compile
class CompiledModule:
    """A compiled ``forward``: call with torch tensors (or numpy), get torch tensors.

    Inputs are passed without copying where they are contiguous CPU tensors;
    outputs are torch tensors viewing the arrays the compiled code wrote.
    ``report()`` summarises parameters, bytes, formats and compile time;
    ``ir`` maps each stage name to its IR text (FX graph, torch-mlir stages,
    kvc IR, target stages); ``save(path)`` writes an artifact for :func:`load`.
    """

    def __init__(self, executable, report: Report, ir: dict[str, str], out_spec, kvc_ir: str, weights: dict,
                 *, input_specs: list[dict] | None = None, opt_level: int = 3):
        self._exe = executable
        #: LLVM optimization level it was compiled at (saved artifacts load at the same level)
        self.opt_level = opt_level
        self._report = report
        self.ir = ir
        self._out_spec = out_spec
        self.kvc_ir = kvc_ir
        self._weights = weights
        #: the example inputs it was compiled for: name, shape, dtype (and the
        #: value range of integer inputs), as saved in the artifact's manifest
        self.input_specs = list(input_specs or [])

    def __call__(self, *inputs):
        flat = [_to_numpy(x) for x in inputs]
        outs = self._exe(*flat)
        tensors = [torch.from_numpy(np.asarray(o)) for o in outs]
        if self._out_spec is None:
            return tensors[0] if len(tensors) == 1 else tuple(tensors)
        from torch.utils import _pytree

        return _pytree.tree_unflatten(tensors, self._out_spec)

    def report(self) -> Report:
        return self._report

    @property
    def stages(self) -> list[str]:
        return list(self.ir)

    def save(self, path) -> None:
        """Write an artifact directory (manifest, kvc IR, weights as .npy) for :func:`kvc.load`."""
        from kvc.frontend.artifact import save_compiled

        save_compiled(self, path)

    def random_inputs(self, seed: int = 0) -> list[torch.Tensor]:
        """Random inputs of the compiled shapes: floats ~ N(0, 1), integers uniform in
        the range the example input covered (e.g. valid token ids), bools uniform."""
        return _random_inputs(self.input_specs, seed)


def _input_specs(captured, example_inputs) -> list[dict]:
    names = [gi.name for gi in captured.user_inputs]
    specs = []
    for i, x in enumerate(example_inputs):
        name = names[i] if i < len(names) else f"input{i}"
        if not isinstance(x, torch.Tensor):
            specs.append({"name": name, "value": x if isinstance(x, (int, float, bool)) else repr(x)})
            continue
        spec = {"name": name, "shape": list(x.shape), "dtype": str(x.detach().cpu().numpy().dtype)}
        if not (x.is_floating_point() or x.is_complex()) and x.numel():
            spec["range"] = [int(x.min()), int(x.max())]
        specs.append(spec)
    return specs


def _random_inputs(specs: list[dict], seed: int) -> list:
    gen = np.random.default_rng(seed)
    out = []
    for spec in specs:
        if "shape" not in spec:
            out.append(spec["value"])
            continue
        dtype = np.dtype(spec["dtype"])
        shape = tuple(spec["shape"])
        if dtype == np.bool_:
            array = gen.integers(0, 2, shape).astype(np.bool_)
        elif np.issubdtype(dtype, np.integer):
            lo, hi = spec.get("range", (0, 1))
            array = gen.integers(lo, hi, shape, endpoint=True).astype(dtype)
        else:
            array = gen.standard_normal(shape).astype(dtype)
        out.append(torch.from_numpy(array))
    return out


def _frontend(model, example_inputs, *, weights, stages, keep_ir, func_name="forward", cache_names=None,
              quant_cache=None):
    from kvc.context import make_context
    from kvc.frontend import capture, to_kvc, torch_bridge

    irs: dict[str, str] = {}
    with stages("export (torch.export + kvc units)"):
        captured = capture.export(model, example_inputs)
    if keep_ir:
        irs["fx"] = captured.fx_text
    with stages("torch-mlir (import + lower to linalg)"):
        lowered = torch_bridge.lower(captured, func_name=func_name, keep_stages=keep_ir)
    irs.update(lowered.stages)
    with stages("kvc IR" + (f" + quantize weights ({weights})" if weights else "")):
        context = make_context()
        module, plan = to_kvc.build(lowered, captured, context, weights=weights, func_name=func_name,
                                    cache_names=cache_names, quant_cache=quant_cache)
    kvc_text = str(module)
    if keep_ir:
        irs["kvc"] = kvc_text
    return captured, module, plan, irs, kvc_text


def compile(model: torch.nn.Module, example_inputs, target: str = "cpu", weights: str | None = None,
            kv_cache=None, sparsity=None, *, keep_ir: bool = True, progress: bool | None = None,
            opt_level: int = 3) -> CompiledModule:
    """Compile ``model`` for ``target`` at the shapes of ``example_inputs``.

    ``weights``: a format name (``"int4"``, ``"razer4:g128"``, ``"e2m1:g32"`` ...)
    quantizes every linear weight at compile time; None keeps fp32.
    ``opt_level``: LLVM's optimization level (0-3) for the cpu target's JIT;
    3 (the default) gives the fastest code, lower levels compile large graphs
    much faster (docs/targets/cpu.md).
    Raises :class:`kvc.frontend.errors.CompileError` naming the op and the
    model's source line when something cannot be compiled.
    """
    _check_target(target)
    _check_unsupported(kv_cache, sparsity)
    _check_weights(weights)
    _check_opt_level(opt_level)
    if not isinstance(example_inputs, (tuple, list)):
        example_inputs = (example_inputs,)
    model = model.eval()
    if target == "cuda":
        return _compile_cuda(model, example_inputs, weights)
    stages = _Stages(progress)
    captured, module, plan, irs, kvc_text = _frontend(model, example_inputs, weights=weights, stages=stages,
                                                      keep_ir=keep_ir)
    with stages(f"{target} target (lower, bufferize, LLVM JIT -O{opt_level})"):
        exe = _cpu_compile(module, entry="forward", weights=plan.arrays, opt_level=opt_level, keep_ir=keep_ir)
    for name, text in exe.ir_stages.items():
        irs[f"{target}:{name}"] = text
    report = _make_report(model, [plan], stages, target, weights)
    out_spec = getattr(captured.program.call_spec, "out_spec", None)
    return CompiledModule(exe, report, irs, out_spec, kvc_text, plan.arrays,
                          input_specs=_input_specs(captured, example_inputs), opt_level=opt_level)


def _compile_cuda(model, example_inputs, weights):
    """The cuda target compiles models of linears - nn.Sequential of nn.Linear and
    elementwise ReLU / GELU / SiLU - into one low-bit GEMV kernel per linear
    (targets/cuda, docs/targets/cuda.md); attention and the rest of a decoder are
    not lowered to cuda yet. Compiling needs no GPU (PTX comes from the NVPTX
    backend); running the result needs one, ``.simulate(x)`` emulates it bit-exactly
    on the CPU. Activations are fp16 unless the example input is bf16."""
    from kvc.targets.cuda import CudaTargetError, compile_linears

    if weights is None:
        raise CompileError("target 'cuda' compiles low-bit linear layers: pass weights=<format>, "
                           "e.g. weights='int4:g128' (kvc.formats.names() lists them)")
    first = example_inputs[0] if example_inputs else None
    act = "bfloat16" if isinstance(first, torch.Tensor) and first.dtype == torch.bfloat16 else "float16"
    try:
        return compile_linears(model, weights=weights, act=act)
    except CudaTargetError as err:
        raise CompileError(f"{err}; use target='cpu' for other models") from None


# ---------------------------------------------------------------- LLMs
class _Step(torch.nn.Module):
    """(input_ids[1, T], pos, *caches) -> (logits[1, T, V], *new caches) for tracing."""

    def __init__(self, model, adapter):
        super().__init__()
        self.model = model
        self._adapter = adapter

    def forward(self, input_ids, pos, *caches):
        from kvc.frontend import kv

        with kv.kv_state(caches, pos) as state:
            logits = self._adapter(self.model, input_ids, pos)
        return (logits, *state.new_caches)


def _builtin_adapter(model, input_ids, pos):
    return model(input_ids, pos)


def _hf_adapter(model, input_ids, pos):
    positions = (torch.arange(input_ids.shape[1], dtype=torch.int64) + pos.reshape(()))[None]
    return model(input_ids=input_ids, position_ids=positions, use_cache=False).logits


def _kv_spec(model):
    if hasattr(model, "kv_spec"):
        return model.kv_spec(), _builtin_adapter
    cfg = getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "num_hidden_layers"):
        heads = cfg.num_attention_heads
        kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
        return (cfg.num_hidden_layers, kv_heads, head_dim), _hf_adapter
    raise CompileError("compile_llm needs a kvc.models decoder (with kv_spec()) or a Hugging Face causal LM "
                       "(config.num_hidden_layers, num_attention_heads, ...)")


@contextlib.contextmanager
def _hf_attention(model, adapter):
    if adapter is not _hf_adapter:
        yield
        return
    from kvc.frontend.kv import register_hf_attention

    name = register_hf_attention()
    previous = model.config._attn_implementation
    model.config._attn_implementation = name
    try:
        yield
    finally:
        model.config._attn_implementation = previous


class CompiledLLM:
    """Prefill and decode steps over explicit KV caches, and greedy ``generate``.

    ``prefill(ids[1, P], pos)`` and ``decode(ids[1, 1], pos)`` return logits and
    update the caches in place (one ``[2, S, H_kv, D]`` float32 array per
    layer, K then V). ``generate`` right-pads the prompt to ``P`` tokens per
    prefill chunk (padded positions are never attended, see kvc.frontend.kv).
    """

    def __init__(self, prefill, decode, spec, max_seq_len, prefill_len, report, ir, kvc_ir, *,
                 weights: dict[str, np.ndarray] | None = None, opt_level: int = 3):
        self._prefill, self._decode = prefill, decode
        #: LLVM optimization level it was compiled at (saved artifacts load at the same level)
        self.opt_level = opt_level
        self.num_layers, self.kv_heads, self.head_dim = spec
        self.max_seq_len, self.prefill_len = max_seq_len, prefill_len
        self._report = report
        self.ir = ir
        self.kvc_ir = kvc_ir
        self._weights = weights
        #: size of the logits' last dim: token ids must lie in [0, vocab_size)
        #: (None if the executable does not report its result shapes)
        self.vocab_size = _logits_width(decode)
        self.caches = self.new_caches()
        self.last_timings: dict[str, float] = {}

    def save(self, path) -> None:
        """Write an artifact directory (manifest, the kvc IR of prefill and decode,
        weights as .npy, stored once) that :func:`kvc.load` turns back into a CompiledLLM."""
        from kvc.frontend.artifact import save_llm

        save_llm(self, path)

    def new_caches(self) -> list[np.ndarray]:
        return [np.zeros((2, self.max_seq_len, self.kv_heads, self.head_dim), np.float32)
                for _ in range(self.num_layers)]

    def reset(self) -> None:
        for c in self.caches:
            c.fill(0.0)

    def report(self) -> Report:
        return self._report

    def step(self, ids, pos: int) -> torch.Tensor:
        ids = _to_numpy(ids).astype(np.int64, copy=False).reshape(1, -1)
        t = ids.shape[1]
        if pos + t > self.max_seq_len:
            raise ValueError(f"positions {pos}..{pos + t - 1} exceed max_seq_len={self.max_seq_len}")
        exe = self._decode if t == 1 else self._prefill
        if t not in (1, self.prefill_len):
            raise ValueError(f"step takes 1 (decode) or {self.prefill_len} (prefill) tokens, got {t}")
        if pos < 0:
            raise ValueError(f"pos must be non-negative, got {pos}")
        if self.vocab_size is not None and ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            # the compiled embedding lookup does not bounds-check: refuse here
            bad = int(ids.min()) if ids.min() < 0 else int(ids.max())
            raise ValueError(f"token id {bad} is out of range [0, {self.vocab_size})")
        out = exe(ids, np.array(pos, dtype=np.int64), *self.caches)
        return torch.from_numpy(out[0])

    def prefill(self, prompt) -> torch.Tensor:
        """Run the prompt (any length <= max_seq_len) from position 0; returns the
        logits of its last token [V]."""
        prompt = _to_numpy(prompt).astype(np.int64).reshape(-1)
        n = len(prompt)
        if n == 0:
            raise ValueError("empty prompt")
        self.reset()
        p = self.prefill_len
        last = None
        for start in range(0, n, p):
            chunk = prompt[start:start + p]
            padded = np.zeros((1, p), np.int64)
            padded[0, :len(chunk)] = chunk
            if start + p > self.max_seq_len:
                raise ValueError(f"prompt of {n} tokens does not fit max_seq_len={self.max_seq_len} "
                                 f"in prefill chunks of {p}")
            logits = self.step(padded, start)
            last = logits[0, len(chunk) - 1]
        return last

    def generate(self, input_ids, max_new_tokens: int = 32, eos_token_id: int | None = None) -> torch.Tensor:
        """Greedy decoding; returns prompt + generated tokens as [1, n] int64."""
        prompt = _to_numpy(input_ids).astype(np.int64).reshape(-1)
        if len(prompt) + max_new_tokens > self.max_seq_len:
            raise ValueError(f"{len(prompt)} prompt + {max_new_tokens} new tokens exceed max_seq_len={self.max_seq_len}")
        t0 = time.perf_counter()
        logits = self.prefill(prompt)
        t1 = time.perf_counter()
        out = list(prompt)
        pos = len(prompt)
        for i in range(max_new_tokens):
            token = int(torch.argmax(logits))
            out.append(token)
            if eos_token_id is not None and token == eos_token_id:
                break
            if i == max_new_tokens - 1:
                break
            logits = self.step(np.array([[token]], np.int64), pos)[0, -1]
            pos += 1
        t2 = time.perf_counter()
        new = len(out) - len(prompt)
        self.last_timings = {"prefill_s": t1 - t0, "decode_s": t2 - t1, "new_tokens": new,
                             "decode_tokens_per_s": (new - 1) / (t2 - t1) if new > 1 and t2 > t1 else float("nan")}
        return torch.tensor([out], dtype=torch.int64)


def compile_llm(model: torch.nn.Module, max_seq_len: int = 256, weights: str | None = None, *,
                prefill_len: int = 16, target: str = "cpu", keep_ir: bool = True,
                progress: bool | None = None, opt_level: int = 3) -> CompiledLLM:
    """Compile a decoder LM into prefill and decode steps with explicit KV caches.

    Works for :mod:`kvc.models` decoders and Hugging Face causal LMs (their
    attention is swapped for kvc's cache-aware attention while tracing). The
    cache is ``!kvcache.cache`` state in the kvc IR (``kvcache.append`` /
    ``kvcache.read``); the cpu target compiles each cache argument
    (``kvc.cache = "layer<i>"``) as state, so each step updates the caller's
    cache arrays in place. ``opt_level``: LLVM's optimization level (0-3) for
    the JIT, as in :func:`compile`.
    """
    _check_target(target)
    _check_weights(weights)
    _check_opt_level(opt_level)
    model = model.eval()
    spec, adapter = _kv_spec(model)
    layers, kv_heads, head_dim = spec
    if prefill_len > max_seq_len:
        raise CompileError(f"prefill_len={prefill_len} exceeds max_seq_len={max_seq_len}")
    stages = _Stages(progress)
    step_module = _Step(model, adapter)
    caches = tuple(torch.zeros(2, max_seq_len, kv_heads, head_dim) for _ in range(layers))
    cache_names = {2 + i: f"layer{i}" for i in range(layers)}
    quant_cache: dict = {}
    exes, plans, irs, kvc_texts = {}, [], {}, {}
    bound: dict[str, np.ndarray] = {}  # every bound array of both steps, by argument name
    with _hf_attention(model, adapter):
        for fname, t in (("prefill", prefill_len), ("decode", 1)):
            ids = torch.zeros(1, t, dtype=torch.int64)
            pos = torch.tensor(0, dtype=torch.int64)
            stage_prefix = f"{fname}: "
            sub = _Prefixed(stages, stage_prefix)
            captured, module, plan, step_irs, kvc_text = _frontend(
                step_module, (ids, pos, *caches), weights=weights, stages=sub, keep_ir=keep_ir,
                func_name=fname, cache_names=cache_names, quant_cache=quant_cache)
            with sub(f"{target} target (lower, bufferize with in-place caches, LLVM JIT -O{opt_level})"):
                exe = _cpu_compile(module, entry=fname, weights=plan.arrays, opt_level=opt_level, keep_ir=keep_ir)
            for name, text in step_irs.items():
                irs[f"{fname}:{name}"] = text
            for name, text in exe.ir_stages.items():
                irs[f"{fname}:{target}:{name}"] = text
            exes[fname] = exe
            plans.append(plan)
            kvc_texts[fname] = kvc_text
            for name, array in plan.arrays.items():  # the steps share names (and arrays)
                if name in bound and bound[name].shape != array.shape:
                    raise CompileError(f"internal: weight '{name}' is bound with different shapes in prefill "
                                       "and decode")
                bound.setdefault(name, array)
    report = _make_report(model, plans, stages, target, weights)
    return CompiledLLM(exes["prefill"], exes["decode"], spec, max_seq_len, prefill_len, report, irs, kvc_texts,
                       weights=bound, opt_level=opt_level)


class _Prefixed:
    def __init__(self, stages: _Stages, prefix: str):
        self.stages, self.prefix = stages, prefix

    def __call__(self, name: str, note: str = ""):
        return self.stages(self.prefix + name, note)


def _logits_width(exe) -> int | None:
    """V of the step's logits result [1, T, V] (from its static result type);
    None if that dimension is dynamic."""
    shape = exe.results[0].shape if exe.results else None
    if shape and shape[-1] is not None:
        return int(shape[-1])
    return None


def load(path):
    """Load an artifact written by ``CompiledModule.save`` (returns a
    :class:`CompiledModule`) or ``CompiledLLM.save`` (returns a :class:`CompiledLLM`).

    Weights are memory-mapped read-only; the kvc IR is compiled for the target
    again (so loading needs kvc's compiler, like compiling). A cuda artifact
    (``kvc.compile(..., target="cuda")``) loads with torch and numpy only."""
    import json
    from pathlib import Path

    manifest = Path(path) / "manifest.json"
    if manifest.is_file():
        try:
            kind = json.loads(manifest.read_text()).get("format")
        except (OSError, ValueError):
            kind = None
        if kind == "kvc-cuda-artifact":
            # cuda artifacts carry PTX and packed weights: loading needs no MLIR.
            from kvc.targets.cuda import load as load_cuda

            return load_cuda(path)
    from kvc.frontend.artifact import load as load_artifact

    return load_artifact(path)
