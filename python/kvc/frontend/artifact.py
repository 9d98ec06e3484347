"""Saving and loading compiled modules (``CompiledModule.save`` / ``kvc.load``).

An artifact is a directory: ``manifest.json`` (format version, target, entry,
output structure, the report, every weight's file, dtype and shape),
``module.mlir`` (the kvc IR the frontend produced: tensor level, no weight
data) and one ``.npy`` file per bound weight array (raw arrays, saved and
loaded with ``allow_pickle=False``; packed codes stay packed). Loading maps
the weights read-only (``mmap``) and compiles ``module.mlir`` for the target,
so it needs kvc's compiler; shipping target code (object files) instead is
left to the targets' own artifact writers.
"""

from __future__ import annotations

import json
import os
import re

import numpy as np

FORMAT = "kvc.compiled-module/1"


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".npy"


def save_compiled(compiled, path) -> None:
    os.makedirs(path, exist_ok=True)
    weights = []
    for name, array in compiled._weights.items():
        fname = _file_name(name)
        np.save(os.path.join(path, fname), np.ascontiguousarray(array), allow_pickle=False)
        weights.append({"name": name, "file": fname, "dtype": str(array.dtype), "shape": list(array.shape)})
    with open(os.path.join(path, "module.mlir"), "w") as f:
        f.write(compiled.kvc_ir)
    out_spec = None
    if compiled._out_spec is not None:
        from torch.utils import _pytree

        out_spec = _pytree.treespec_dumps(compiled._out_spec)
    manifest = {"format": FORMAT, "target": compiled.report().target, "entry": "forward", "module": "module.mlir",
                "weights": weights, "out_spec": out_spec, "report": compiled.report().as_dict()}
    with open(os.path.join(path, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def load_compiled(path):
    from mlir import ir

    from kvc.api import CompiledModule, Report, _cpu_compile
    from kvc.context import make_context

    with open(os.path.join(path, "manifest.json")) as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: not a kvc compiled module (format {manifest.get('format')!r}, expected {FORMAT})")
    weights = {}
    for w in manifest["weights"]:
        array = np.load(os.path.join(path, w["file"]), mmap_mode="r", allow_pickle=False)
        if str(array.dtype) != w["dtype"] or list(array.shape) != w["shape"]:
            raise ValueError(f"{path}: weight '{w['name']}' does not match the manifest")
        weights[w["name"]] = array
    with open(os.path.join(path, manifest["module"])) as f:
        text = f.read()
    context = make_context()
    with context:
        module = ir.Module.parse(text)
    exe = _cpu_compile(module, entry=manifest["entry"], weights=weights, in_place_state=False)
    r = manifest["report"]
    report = Report(r["parameters"], r["bytes_before"], r["bytes_after"], r["formats"],
                    stage_seconds=r["stage_seconds"], target=r["target"], notes=r["notes"])
    out_spec = None
    if manifest["out_spec"] is not None:
        from torch.utils import _pytree

        out_spec = _pytree.treespec_loads(manifest["out_spec"])
    return CompiledModule(exe, report, {"kvc": text}, out_spec, text, weights)
