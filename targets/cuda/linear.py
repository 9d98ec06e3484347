"""Compiled low-bit linears and models of linears for the cuda target.

    lin = compile_linear(w, "int4", 128)            # w: (N, K) float array
    y = lin(x)                                       # x: (..., K) fp16 CUDA tensor
    model = compile_linears(torch_seq, weights="razer4:g128")
    model.save("out/")  ...  load("out/")(x)

Compiling (quantize with :mod:`kvc.formats`, re-lay out with numpy,
generate + lower the kernel through MLIR) runs anywhere; running needs a
CUDA GPU, torch and the driver only: this module imports MLIR only when it
has to generate PTX that is neither cached nor prebuilt.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from . import layout
import dataclasses

from .spec import MAX_M, CudaTargetError, GemvSpec, measured_only, pick_variant, variant_options

_TORCH_DTYPES = {"float16": "float16", "bfloat16": "bfloat16", "float32": "float32"}

# Measured variant choice (see CudaLinear.kernel_for): KVC_CUDA_MEASURE=0 keeps
# the model's pick. A measured variant replaces the model's pick only when it
# is this much faster: twice the spread of same-process repeats of one kernel
# (~0.5 %, bench/notes_cuda.md runs 34-39), so that a near-tie keeps the
# model's stable pick.
MEASURE_ENV = "KVC_CUDA_MEASURE"
MEASURE_MARGIN = 0.01
MEASURE_REPS = 7
# When the first pass's fastest is not the model's pick, the variants within
# MEASURE_CONFIRM_WINDOW of it (and the model's pick) are timed for
# MEASURE_CONFIRM_REPS more rounds; on those 3x larger samples a gain of
# MEASURE_CONFIRMED_MARGIN (the spread of one kernel's median across
# same-process repeats) is taken. Without it, 1-1.5 % gains stayed on the
# table: int4 8192x8192 ran the model's 13.6 us kernel beside a measured
# 13.4 (bench/notes_cuda.md, run 59).
MEASURE_CONFIRM_WINDOW = 0.03
MEASURE_CONFIRM_REPS = 14
MEASURE_CONFIRMED_MARGIN = 0.005
MEASURE_LAUNCHES = 16  # per CUDA graph
MEASURE_MAX_COPIES = 16  # of a small linear's arrays (their bytes together >= 2 x L2)
# (layout key, variant tags, device name) -> index of the chosen variant: the
# linears of one shape and format share their choice
_measured: dict = {}
_ACTIVATIONS = ("relu", "gelu", "gelu_tanh", "silu", "identity")

# ------------------------------------------------------------------ PTX sources
_prebuilt_dirs: list[Path] = [Path(p) for p in os.environ.get("KVC_CUDA_PREBUILT", "").split(os.pathsep) if p]


def add_prebuilt(path) -> None:
    """Look for ready PTX in ``path`` (written by :func:`write_prebuilt`) before generating."""
    p = Path(path)
    if p not in _prebuilt_dirs:
        _prebuilt_dirs.insert(0, p)


def ptx_for(spec: GemvSpec) -> str:
    """PTX of ``spec``: from a prebuilt directory, else generated through MLIR."""
    for d in _prebuilt_dirs:
        f = d / f"{spec.key()}.ptx"
        if f.is_file():
            return f.read_text()
    try:
        from .lower import gemv_ptx
    except ImportError as err:
        raise CudaTargetError(
            f"cuda target: no prebuilt PTX for {spec.name} (key {spec.key()}) and MLIR is not importable "
            f"({err}); generate it on a machine with kvc's compiler stack (python -m kvc.targets.cuda.prebuild)"
        ) from None
    return gemv_ptx(spec)


def write_prebuilt(path, specs) -> list[GemvSpec]:
    """Generate PTX for every spec into ``path`` (``<key>.ptx`` + index.json)."""
    from .lower import gemv_ptx

    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    idx_path = p / "index.json"
    index = json.loads(idx_path.read_text()) if idx_path.is_file() else {}
    done = []
    expanded = []
    for spec in specs:
        expanded += variant_specs(spec)
    for spec in expanded:
        key = spec.key()
        if key not in index or not (p / f"{key}.ptx").is_file():
            (p / f"{key}.ptx").write_text(gemv_ptx(spec))
            index[key] = spec.to_json() | {"name": spec.name}
        done.append(spec)
    idx_path.write_text(json.dumps(index, indent=1, sort_keys=True))
    return done


def variant_specs(spec: GemvSpec) -> list[GemvSpec]:
    """The kernel variants an artifact carries for ``spec``: itself when its
    warps are fixed, else one per :func:`spec.variant_options` (same device
    layout and numerics, different split of K across a block's warps,
    register cap, row tiles per block, rolling reloads, scales in lanes)."""
    if spec.warps:
        return [spec]
    return [dataclasses.replace(spec, warps=w, maxnreg=r, row_tiles=t, rolling=rolling, lane_scales=lanes)
            for w, r, t, rolling, lanes in variant_options(spec.n, spec.k, spec.fmt, spec.group_size)]


def model_options(opts: list, variants: list) -> list:
    """The (W, B, capped, row_tiles) options :func:`spec.pick_variant` scores:
    ``opts`` with B = 0 for the register-budget variants (measured only)."""
    return [(w, 0 if measured_only(vs.nwarps, vs.maxnreg, vs.rolling, vs.row_tiles) else b, c, t)
            for (w, b, c, t), (vs, _) in zip(opts, variants)]


def prefer_measured(times: dict, model: int, margin: float = MEASURE_MARGIN) -> int:
    """The variant to run given measured ``times`` ({index: us}): the fastest,
    if it beats the model's pick ``model`` by more than ``margin``; else the
    model's pick (a near-tie is noise, and the model's pick is stable)."""
    best = min(times, key=times.get)
    return best if times[best] < times[model] * (1 - margin) else model


def confirm_contenders(times: dict, model: int, window: float = MEASURE_CONFIRM_WINDOW) -> list[int]:
    """The variants to time again before leaving the model's pick ``model``:
    [] when the first pass's fastest is the model's pick, else every variant
    within ``window`` of the fastest plus the model's pick (sorted)."""
    best = min(times, key=times.get)
    if best == model:
        return []
    return sorted({j for j, t in times.items() if t <= times[best] * (1 + window)} | {model})


# ------------------------------------------------------------------ linear
class CudaLinear:
    """y = x @ dequant(W)^T (+ bias) with W low-bit, as one generated kernel."""

    def __init__(self, spec: GemvSpec, arrays: dict[str, np.ndarray], ptx: str, info: dict | None = None,
                 variants: list[tuple[GemvSpec, str]] | None = None):
        self.spec = spec  # the default variant (numerics and layout are the same for all)
        self.arrays = arrays
        self.ptx = ptx
        self.info = dict(info or {})
        self.variants = variants or [(spec, ptx)]
        for vs, _ in self.variants:
            if vs.layout_key() != spec.layout_key():
                raise CudaTargetError(f"kernel variant {vs.name} does not match {spec.name}")
        self._dev: dict = {}
        self._chosen: dict = {}

    def kernel_for(self, device=None) -> tuple[GemvSpec, str]:
        """The variant used on ``device``, chosen once: the model's pick from the
        driver's occupancy figures for each variant's block size
        (spec.pick_variant), then - unless ``KVC_CUDA_MEASURE=0`` or a CUDA
        graph is being captured - each variant that fits is timed on this
        device (M = 1, back-to-back launches in a CUDA graph, weights
        streamed from DRAM: :meth:`_measured_choice`) and one at least
        ``MEASURE_MARGIN`` faster than the model's pick replaces it - or,
        after the near-fastest variants were timed again
        (:func:`confirm_contenders`), ``MEASURE_CONFIRMED_MARGIN`` faster. The
        measured times go to ``info["variant_choice"]``."""
        import torch

        key = str(device if device is not None else torch.device("cuda", torch.cuda.current_device()))
        if key not in self._chosen:
            if len(self.variants) == 1:
                self._chosen[key] = self.variants[0]
            else:
                from kvc.runtime import cuda as rt

                dev = torch.device(key)
                with torch.cuda.device(dev):
                    sms = rt.sm_count()
                    opts = []
                    for vs, vp in self.variants:
                        blocks = rt.max_active_blocks(vp, vs.name, vs.threads)
                        if vs.maxnreg and rt.function_attributes(vp, vs.name)["local_size_bytes"] > 0:
                            blocks = 0  # the register cap made ptxas spill: never worth it
                        opts.append((vs.nwarps, blocks, bool(vs.maxnreg), vs.row_tiles))
                s = self.spec
                model = pick_variant(s.tiles, s.chunks, s.bits, model_options(opts, self.variants), sms)
                times = {}
                i = model
                if os.environ.get(MEASURE_ENV, "1") != "0" and not torch.cuda.is_current_stream_capturing():
                    with torch.cuda.device(dev):
                        i, times = self._measured_choice(dev, opts, model)
                self._chosen[key] = self.variants[i]
                self.info.setdefault("variant_choice", {})[key] = {
                    "kernel": self.variants[i][0].name, "sms": sms, "model_pick": self.variants[model][0].name,
                    "options": [{"variant": vs.variant_tag, "warps": w, "blocks_per_sm": b, "maxnreg": vs.maxnreg,
                                 "row_tiles": t, "rolling": vs.rolling, "lane_scales": vs.lane_scales,
                                 "measured_us": times.get(j)}
                                for j, ((w, b, _, t), (vs, _)) in enumerate(zip(opts, self.variants))]}
        return self._chosen[key]

    def _measured_choice(self, dev, opts, model: int) -> tuple[int, dict]:
        """(chosen index, {index: median us per launch}) from timing every variant
        that fits on ``dev`` the way decode runs them: a CUDA graph of
        back-to-back launches (programmatic dependent launch on), cycling
        through copies of this linear's device arrays so that together they
        exceed twice the L2 (every launch streams its weight from DRAM).
        Shared by the linears of one layout on one device model."""
        import statistics

        import torch

        fits = [j for j, o in enumerate(opts) if o[1] >= 1]
        if len(fits) < 2 or model not in fits:
            return model, {}
        ckey = (self.spec.layout_key(), tuple(vs.variant_tag for vs, _ in self.variants),
                torch.cuda.get_device_name(dev))
        if ckey in _measured:
            return _measured[ckey]
        s = self.spec
        x = torch.zeros((1, s.k), dtype=getattr(torch, s.act), device=dev)
        y = torch.empty((1, s.n), dtype=getattr(torch, s.out), device=dev)
        arrays = self._device_arrays(dev)
        nbytes = sum(t.numel() * t.element_size() for t in arrays.values())
        l2 = getattr(torch.cuda.get_device_properties(dev), "L2_cache_size", 50 << 20)
        ncopies = min(MEASURE_MAX_COPIES, -(-2 * l2 // max(nbytes, 1)))
        copies = [arrays] + [{n: t.clone() for n, t in arrays.items()} for _ in range(ncopies - 1)]
        graphs = {}
        try:
            side = torch.cuda.Stream(dev)
            side.wait_stream(torch.cuda.current_stream(dev))
            with torch.cuda.stream(side):
                for j in fits:  # module load and first launches outside the capture
                    for c in copies:
                        self._launch(self.variants[j], x, y, c)
            torch.cuda.current_stream(dev).wait_stream(side)
            torch.cuda.synchronize(dev)
            for j in fits:
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    for i in range(MEASURE_LAUNCHES):
                        self._launch(self.variants[j], x, y, copies[i % len(copies)])
                graphs[j] = g
            samples = {j: [] for j in fits}

            def rounds(which: list, reps: int):
                for rep in range(reps):
                    order = which[rep % len(which):] + which[:rep % len(which)]  # spread drift over the variants
                    events = []
                    for j in order:
                        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                        a.record()
                        graphs[j].replay()
                        b.record()
                        events.append((j, a, b))
                    torch.cuda.synchronize(dev)
                    for j, a, b in events:
                        samples[j].append(a.elapsed_time(b) * 1e3 / MEASURE_LAUNCHES)

            rounds(fits, MEASURE_REPS)
            contenders = confirm_contenders({j: statistics.median(v) for j, v in samples.items()}, model)
            if contenders:
                rounds(contenders, MEASURE_CONFIRM_REPS)
        except Exception as err:  # e.g. no graph capture here: keep the model's pick, say why
            import warnings

            self.info["variant_measure_error"] = f"{type(err).__name__}: {err}"
            warnings.warn(f"{self!r}: timing the kernel variants failed ({type(err).__name__}: {err}); "
                          f"running the model's pick {self.variants[model][0].name}", RuntimeWarning, stacklevel=3)
            return model, {}
        finally:
            graphs.clear()
            del copies[1:]
        times = {j: statistics.median(v) for j, v in samples.items()}
        margin = MEASURE_CONFIRMED_MARGIN if contenders else MEASURE_MARGIN
        _measured[ckey] = (prefer_measured(times, model, margin), times)
        return _measured[ckey]

    # -- description ---------------------------------------------------------
    @property
    def in_features(self) -> int:
        return self.spec.k

    @property
    def out_features(self) -> int:
        return self.spec.n

    @property
    def device_bytes(self) -> int:
        return int(sum(a.nbytes for a in self.arrays.values()))

    def report(self) -> dict:
        s = self.spec
        return {
            "kernel": s.name, "format": s.fmt, "group_size": s.group_size, "n": s.n, "k": s.k,
            "activation_dtype": s.act, "output_dtype": s.out, "bias": s.bias,
            "grid": [s.blocks, 1, 1], "block": [s.threads, 1, 1], "arch": s.arch,
            "device_bytes": self.device_bytes, "bytes_per_launch_m1": s.bytes_moved(1),
            "fp16_weight_bytes": 2 * s.n * s.k, **self.info,
        }

    def __repr__(self) -> str:
        return f"CudaLinear({self.spec.fmt}:g{self.spec.group_size}, {self.spec.k} -> {self.spec.n}, act={self.spec.act})"

    # -- running -------------------------------------------------------------
    def _device_arrays(self, device):
        import torch

        key = str(device)
        if key not in self._dev:
            dev = {}
            for name, arr in self.arrays.items():
                a = np.ascontiguousarray(arr)
                if a.dtype == np.uint32:
                    a = a.view(np.int32)
                dev[name] = torch.from_numpy(a.reshape(-1)).to(device)
            self._dev[key] = dev
        return self._dev[key]

    def __call__(self, x, out=None):
        """Run on a CUDA tensor x (..., K); returns (..., N) in the output dtype.

        ``out``: optional preallocated contiguous output tensor.
        """
        import torch

        s = self.spec
        if not isinstance(x, torch.Tensor) or not x.is_cuda:
            raise TypeError(f"{self!r}: expected a CUDA torch tensor, got {type(x).__name__}"
                            + (f" on {x.device}" if isinstance(x, torch.Tensor) else ""))
        if x.shape[-1] != s.k:
            raise ValueError(f"{self!r}: input has {x.shape[-1]} features, expected {s.k}")
        act = getattr(torch, s.act)
        x2 = x.reshape(-1, s.k)
        if x2.dtype != act:
            x2 = x2.to(act)
        if not x2.is_contiguous() or x2.data_ptr() % 16:
            x2 = x2.contiguous().clone()
        rows = x2.shape[0]
        odt = getattr(torch, s.out)
        if out is None:
            out = torch.empty((rows, s.n), dtype=odt, device=x2.device)
        elif out.shape != (rows, s.n) or out.dtype != odt or not out.is_contiguous():
            raise ValueError(f"{self!r}: out must be a contiguous ({rows}, {s.n}) {s.out} tensor")
        with torch.cuda.device(x2.device):
            self._launch(self.kernel_for(x2.device), x2, out)
        return out.reshape(*x.shape[:-1], s.n)

    def _launch(self, variant, x2, out, arrays=None) -> None:
        """Launch ``variant`` on contiguous (rows, K) x2 into (rows, N) out, in
        launches of up to MAX_M rows (``arrays``: device arrays to use instead
        of this linear's own, e.g. copies while measuring)."""
        from kvc.runtime import cuda as rt

        s = self.spec
        ks, kptx = variant
        dev = arrays if arrays is not None else self._device_arrays(x2.device)
        esize_x, esize_y = x2.element_size(), out.element_size()
        ptrs = [dev[p] for p in s.params() if p not in ("x", "y", "bias", "m")]
        bias = [dev["bias"]] if s.bias else []
        for r0 in range(0, x2.shape[0], MAX_M):
            m = min(MAX_M, x2.shape[0] - r0)
            args = [rt.Arg.ptr(t) for t in ptrs]
            args += [rt.Arg.ptr(x2.data_ptr() + r0 * s.k * esize_x), rt.Arg.ptr(out.data_ptr() + r0 * s.n * esize_y)]
            args += [rt.Arg.ptr(t) for t in bias]
            args.append(rt.Arg.i32(m))
            rt.launch(kptx, ks.name, (ks.blocks, 1, 1), (ks.threads, 1, 1), args)

    def kernel_attributes(self) -> dict:
        """Driver attributes (registers, spill bytes, ...) of the variant in use."""
        from kvc.runtime import cuda as rt

        ks, kptx = self.kernel_for()
        return {"kernel": ks.name, "warps": ks.nwarps, "maxnreg": ks.maxnreg, "row_tiles": ks.row_tiles,
                **rt.function_attributes(kptx, ks.name)}

    def simulate(self, x) -> np.ndarray:
        """CPU emulation of exactly what the kernel computes (float64), for tests."""
        x = np.asarray(x, dtype=np.float64)
        x2 = x.reshape(-1, self.spec.k)
        ys = [layout.simulate(self.spec, self.arrays, x2[r:r + MAX_M]) for r in range(0, x2.shape[0], MAX_M)]
        return np.concatenate(ys, axis=0).reshape(*x.shape[:-1], self.spec.n)

    # -- artifacts -------------------------------------------------------------
    def _entry(self, stem: str):
        arrays = {f"{stem}.{k}": v for k, v in self.arrays.items()}
        variants, ptx = [], {}
        for vs, vp in self.variants:
            vstem = f"{stem}.{vs.variant_tag}"
            ptx[vstem] = vp
            variants.append({"spec": vs.to_json(), "kernel": vs.name, "ptx": vstem,
                             "grid": [vs.blocks, 1, 1], "block": [vs.threads, 1, 1]})
        info = {k: v for k, v in self.info.items() if k != "variant_choice"}
        entry = {"type": "linear", "variants": variants, "params": self.spec.params(),
                 "arrays": {k: f"{stem}.{k}" for k in self.arrays}, "info": info}
        return entry, ptx, arrays

    @classmethod
    def _from_entry(cls, entry, ptx, arrays) -> "CudaLinear":
        vars_ = []
        for v in entry["variants"]:
            spec = GemvSpec.from_json(v["spec"])
            if spec.name != v["kernel"]:
                raise CudaTargetError(f"artifact kernel {v['kernel']} does not match its spec ({spec.name})")
            vars_.append((spec, ptx[v["ptx"]]))
        arrs = {k: arrays[v] for k, v in entry["arrays"].items()}
        return cls(vars_[0][0], arrs, vars_[0][1], entry.get("info"), variants=vars_)

    def save(self, path) -> Path:
        from kvc.runtime import cuda_artifact

        entry, ptx, arrays = self._entry("l0")
        return cuda_artifact.write(path, {"kind": "linear", "layers": [entry]}, ptx, arrays)


class CudaModel:
    """A chain of CudaLinears and elementwise activations (run with torch)."""

    def __init__(self, layers: list, act: str = "float16"):
        self.layers = layers  # CudaLinear or activation name
        self.act = act

    def __repr__(self) -> str:
        return "CudaModel(" + ", ".join(repr(l) if isinstance(l, CudaLinear) else l for l in self.layers) + ")"

    @property
    def linears(self) -> list[CudaLinear]:
        return [l for l in self.layers if isinstance(l, CudaLinear)]

    def __call__(self, x):
        import torch
        import torch.nn.functional as F

        h = x.to(getattr(torch, self.act))
        for layer in self.layers:
            if isinstance(layer, CudaLinear):
                h = layer(h)
            elif layer == "relu":
                h = F.relu(h)
            elif layer == "gelu":
                h = F.gelu(h)
            elif layer == "gelu_tanh":
                h = F.gelu(h, approximate="tanh")
            elif layer == "silu":
                h = F.silu(h)
        return h

    def report(self) -> dict:
        lin = [l.report() for l in self.linears]
        return {"layers": [l.report() if isinstance(l, CudaLinear) else {"activation": l} for l in self.layers],
                "device_bytes": sum(r["device_bytes"] for r in lin),
                "fp16_weight_bytes": sum(r["fp16_weight_bytes"] for r in lin)}

    def simulate(self, x) -> np.ndarray:
        """CPU emulation (float64 kernels, activations rounded to the activation dtype between layers)."""
        import torch
        import torch.nn.functional as F

        dt = getattr(torch, self.act)
        h = torch.as_tensor(np.asarray(x, dtype=np.float32)).to(dt)
        for layer in self.layers:
            if isinstance(layer, CudaLinear):
                h = torch.from_numpy(layer.simulate(h.double().numpy())).to(getattr(torch, layer.spec.out))
            elif layer != "identity":
                f = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu,
                     "gelu_tanh": lambda t: F.gelu(t, approximate="tanh")}[layer]
                h = f(h.float()).to(dt)
        return h.double().numpy()

    def save(self, path) -> Path:
        from kvc.runtime import cuda_artifact

        layers, ptx, arrays = [], {}, {}
        for i, layer in enumerate(self.layers):
            if isinstance(layer, CudaLinear):
                e, p, a = layer._entry(f"l{i}")
                layers.append(e)
                ptx.update(p)
                arrays.update(a)
            else:
                layers.append({"type": "activation", "op": layer})
        return cuda_artifact.write(path, {"kind": "model", "act": self.act, "layers": layers}, ptx, arrays)


def load(path):
    """Load a saved CudaLinear or CudaModel (needs no MLIR)."""
    from kvc.runtime import cuda_artifact

    doc, ptx, arrays = cuda_artifact.read(path)
    layers = []
    for e in doc["layers"]:
        if e["type"] == "linear":
            layers.append(CudaLinear._from_entry(e, ptx, arrays))
        elif e["type"] == "activation":
            if e["op"] not in _ACTIVATIONS:
                raise cuda_artifact.ArtifactError(f"{path}: unknown activation {e['op']!r}")
            layers.append(e["op"])
        else:
            raise cuda_artifact.ArtifactError(f"{path}: unknown layer type {e['type']!r}")
    if doc.get("kind") == "linear":
        return layers[0]
    return CudaModel(layers, doc.get("act", "float16"))


# ------------------------------------------------------------------ compiling
def parse_weights(weights: str, default_group: int = 128) -> tuple[str, int | None]:
    """'int4:g128' -> ('int4', 128); 'razer4' -> ('razer4', default_group)."""
    from kvc import formats

    f = formats.get(weights)
    return f.name, (f.default_group_size or default_group)


def compile_quantized(qt, bias=None, act: str = "float16", out: str | None = None, arch: str = "sm_90",
                      warps: int = 0, depth: int = 1, ptx: str | None = None, row_tiles: int = 1,
                      rolling: bool = False, maxnreg: int = 0, lane_scales: bool = False) -> CudaLinear:
    """CudaLinear from an existing (N, K) kvc.formats QuantizedTensor.

    ``warps`` (with ``depth``, ``row_tiles``, ``rolling``, ``maxnreg``,
    ``lane_scales``) fixes the kernel variant; 0 lets the runtime choose among
    :func:`variant_specs` per device."""
    n, k = qt.shape
    g = qt.group_size
    if (row_tiles != 1 or rolling or maxnreg or lane_scales) and not warps:
        raise CudaTargetError("compile_quantized: row_tiles, rolling, maxnreg and lane_scales are variant "
                              "settings; give warps too")
    base = GemvSpec(qt.format.name, n, k, g if g < k else k, act=act, out=out or act,
                    bias=bias is not None, warps=warps, arch=arch, depth=depth, row_tiles=row_tiles,
                    rolling=rolling, maxnreg=maxnreg, lane_scales=lane_scales)
    arrays = layout.pack_quantized(base, qt, bias)
    info = {"quantized_bytes": int(qt.nbytes)}
    if ptx is not None:
        spec = base if warps else dataclasses.replace(base, warps=base.nwarps)
        return CudaLinear(spec, arrays, ptx, info)
    variants = [(vs, ptx_for(vs)) for vs in variant_specs(base)]
    return CudaLinear(variants[0][0], arrays, variants[0][1], info, variants=variants)


def compile_linear(weight, fmt: str, group_size: int | None = None, bias=None, act: str = "float16",
                   out: str | None = None, arch: str = "sm_90", method: str = "rtn", **variant) -> CudaLinear:
    """Quantize an (N, K) weight with kvc.formats and compile its GEMV kernel
    (``variant``: the variant settings :func:`compile_quantized` takes)."""
    from kvc import formats

    w = np.asarray(weight, dtype=np.float32)
    if w.ndim != 2:
        raise CudaTargetError(f"compile_linear: weight must be 2-D (N, K), got shape {w.shape}")
    name, g = parse_weights(fmt) if group_size is None else (formats.get(fmt).name, int(group_size))
    qt = formats.get(name).quantize(w, group_size=g, method=method)
    return compile_quantized(qt, bias=bias, act=act, out=out, arch=arch, **variant)


def compile_linears(model, weights: str = "int4:g128", act: str = "float16", arch: str = "sm_90",
                    method: str = "rtn") -> CudaModel:
    """Compile a model of nn.Linear layers and elementwise activations
    (nn.Sequential of Linear / ReLU / GELU / SiLU / Identity / Dropout, or one Linear)."""
    import torch.nn as nn

    mods = list(model) if isinstance(model, nn.Sequential) else [model]
    layers = []
    for i, m in enumerate(mods):
        if isinstance(m, nn.Sequential):
            layers += compile_linears(m, weights, act, arch, method).layers
        elif isinstance(m, nn.Linear):
            w = m.weight.detach().float().cpu().numpy()
            b = None if m.bias is None else m.bias.detach().float().cpu().numpy()
            layers.append(compile_linear(w, weights, None, bias=b, act=act, arch=arch, method=method))
        elif isinstance(m, nn.ReLU):
            layers.append("relu")
        elif isinstance(m, nn.GELU):
            layers.append("gelu_tanh" if m.approximate == "tanh" else "gelu")
        elif isinstance(m, nn.SiLU):
            layers.append("silu")
        elif isinstance(m, (nn.Identity, nn.Dropout)):
            layers.append("identity")
        else:
            raise CudaTargetError(
                f"compile_linears: layer {i} is {type(m).__name__}; the cuda target handles nn.Linear and "
                "elementwise ReLU / GELU / SiLU (Identity, Dropout in eval)"
            )
    return CudaModel(layers, act)
