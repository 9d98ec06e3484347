"""Saving and loading compiled modules and LLMs (``save(path)`` / ``kvc.load``).

An artifact is a directory:

- ``manifest.json``: the format (``kvc.compiled-module/1`` or
  ``kvc.compiled-llm/1``), the target, the LLVM optimization level it was
  compiled at (loading compiles at the same level), the entry function(s) and
  the file of each one's kvc IR, every weight's name, file, dtype and shape, the report,
  and what the artifact needs to be run (example input shapes for a module;
  cache geometry, prefill length and vocabulary size for an LLM);
- one ``<entry>.mlir`` per function (``module.mlir`` for ``kvc.compile``,
  ``prefill.mlir`` and ``decode.mlir`` for ``kvc.compile_llm``): the kvc IR
  the frontend produced, tensor level, with weights as function arguments
  tagged ``kvc.weight = "<name>"`` - never weight data;
- ``weights/<name>.npy``: one raw array per bound weight (fp32 weights, packed
  codes, scales, zeros, selectors), written and read with
  ``allow_pickle=False``. The prefill and decode steps of an LLM bind the same
  arrays, which are stored once.

Loading maps the weights read-only (``mmap``) and compiles the IR for the
target, so today it needs kvc's compiler; shipping target object code is left
to the targets' own artifact writers.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

import numpy as np

FORMAT = "kvc.compiled-module/1"
LLM_FORMAT = "kvc.compiled-llm/1"
MANIFEST = "manifest.json"
WEIGHTS_DIR = "weights"


class ArtifactError(ValueError):
    """A missing, malformed or inconsistent artifact (the message names the path)."""


# ---------------------------------------------------------------- writing
def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _write_weights(path: str, weights: dict[str, np.ndarray]) -> list[dict]:
    os.makedirs(os.path.join(path, WEIGHTS_DIR), exist_ok=True)
    entries, used = [], set()
    for name, array in weights.items():
        array = np.asarray(array)
        if array.dtype == object:
            raise ArtifactError(f"{path}: weight '{name}' has dtype object; artifacts hold numeric arrays only")
        stem, n = _file_stem(name), 1
        while stem.lower() in used:  # two names that sanitize alike
            n += 1
            stem = f"{_file_stem(name)}.{n}"
        used.add(stem.lower())
        rel = f"{WEIGHTS_DIR}/{stem}.npy"
        np.save(os.path.join(path, rel), np.ascontiguousarray(array), allow_pickle=False)
        entries.append({"name": name, "file": rel, "dtype": str(array.dtype), "shape": list(array.shape)})
    return entries


def _report_fields(report) -> dict:
    return {"report": report.as_dict(), "quantized": [dataclasses.asdict(q) for q in report.quantized]}


def _write_manifest(path: str, manifest: dict) -> None:
    with open(os.path.join(path, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=1)


def save_compiled(compiled, path) -> None:
    """Write a :class:`kvc.api.CompiledModule` artifact."""
    path = os.fspath(path)
    os.makedirs(path, exist_ok=True)
    weights = _write_weights(path, compiled._weights)
    with open(os.path.join(path, "module.mlir"), "w") as f:
        f.write(compiled.kvc_ir)
    out_spec = None
    if compiled._out_spec is not None:
        from torch.utils import _pytree

        from kvc.frontend.capture import quiet_treespec_warning

        with quiet_treespec_warning():
            out_spec = _pytree.treespec_dumps(compiled._out_spec)
    manifest = {"format": FORMAT, "target": compiled.report().target, "opt_level": compiled.opt_level,
                "entry": "forward", "module": "module.mlir", "inputs": list(compiled.input_specs),
                "weights": weights, "out_spec": out_spec,
                **_report_fields(compiled.report())}
    _write_manifest(path, manifest)


def save_llm(llm, path) -> None:
    """Write a :class:`kvc.api.CompiledLLM` artifact."""
    path = os.fspath(path)
    os.makedirs(path, exist_ok=True)
    if llm._weights is None:
        raise ArtifactError("this CompiledLLM has no bound weights to save")
    weights = _write_weights(path, llm._weights)
    entries = {}
    for name, tokens in (("prefill", llm.prefill_len), ("decode", 1)):
        fname = f"{name}.mlir"
        with open(os.path.join(path, fname), "w") as f:
            f.write(llm.kvc_ir[name])
        entries[name] = {"module": fname, "tokens": tokens}
    manifest = {
        "format": LLM_FORMAT, "target": llm.report().target, "opt_level": llm.opt_level, "entries": entries,
        "kv_cache": {"num_layers": llm.num_layers, "kv_heads": llm.kv_heads, "head_dim": llm.head_dim,
                     "max_seq_len": llm.max_seq_len,
                     "layout": "[2, max_seq_len, kv_heads, head_dim] float32, K then V"},
        "prefill_len": llm.prefill_len, "vocab_size": llm.vocab_size,
        "weights": weights, **_report_fields(llm.report()),
    }
    _write_manifest(path, manifest)


# ---------------------------------------------------------------- reading
def read_manifest(path) -> dict:
    path = os.fspath(path)
    mpath = os.path.join(path, MANIFEST)
    if not os.path.isdir(path):
        raise ArtifactError(f"{path}: no such artifact directory")
    if not os.path.isfile(mpath):
        raise ArtifactError(f"{path}: not a kvc artifact (no {MANIFEST})")
    try:
        with open(mpath) as f:
            manifest = json.load(f)
    except json.JSONDecodeError as err:
        raise ArtifactError(f"{mpath}: not valid JSON ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") not in (FORMAT, LLM_FORMAT):
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise ArtifactError(f"{path}: unsupported artifact format {found!r} (kvc.load reads {FORMAT} and {LLM_FORMAT})")
    return manifest


def _inside(path: str, rel: str) -> str:
    if os.path.isabs(rel) or ".." in rel.replace("\\", "/").split("/"):
        raise ArtifactError(f"{path}: manifest names a file outside the artifact: {rel!r}")
    full = os.path.join(path, rel)
    if not os.path.isfile(full):
        raise ArtifactError(f"{path}: missing file {rel!r} named in the manifest")
    return full


def _read_weights(path: str, manifest: dict) -> dict[str, np.ndarray]:
    weights = {}
    for w in manifest["weights"]:
        array = np.load(_inside(path, w["file"]), mmap_mode="r", allow_pickle=False)
        if str(array.dtype) != w["dtype"] or list(array.shape) != w["shape"]:
            raise ArtifactError(f"{path}: weight '{w['name']}' is {array.dtype}{list(array.shape)} on disk, "
                                f"the manifest says {w['dtype']}{w['shape']}")
        weights[w["name"]] = array
    return weights


def _read_text(path: str, rel: str) -> str:
    with open(_inside(path, rel)) as f:
        return f.read()


def _report(manifest: dict):
    from kvc.api import Report
    from kvc.frontend.to_kvc import QuantInfo

    r = manifest["report"]
    quantized = [QuantInfo(**{**q, "shape": tuple(q["shape"])}) for q in manifest.get("quantized", [])]
    return Report(r["parameters"], r["bytes_before"], r["bytes_after"], r["formats"], quantized,
                  stage_seconds=r["stage_seconds"], target=r["target"], notes=r["notes"])


def load(path):
    """A :class:`kvc.api.CompiledModule` or :class:`kvc.api.CompiledLLM`, by the manifest's format."""
    path = os.fspath(path)
    manifest = read_manifest(path)
    if manifest["format"] == LLM_FORMAT:
        return load_llm(path, manifest)
    return load_compiled(path, manifest)


def _parse(text: str, context, source: str):
    from mlir import ir

    with context:
        try:
            return ir.Module.parse(text)
        except Exception as err:  # noqa: BLE001 - reported with the file
            raise ArtifactError(f"{source}: the kvc IR does not parse: {str(err).strip().splitlines()[0]}") from None


def _opt_level(path: str, manifest: dict) -> int:
    """The LLVM optimization level the artifact was compiled at (3, the default, if not recorded)."""
    level = manifest.get("opt_level", 3)
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 3:
        raise ArtifactError(f"{path}: manifest opt_level must be an integer from 0 to 3, got {level!r}")
    return level


def load_compiled(path, manifest: dict | None = None):
    from kvc.api import CompiledModule, _cpu_compile
    from kvc.context import make_context

    path = os.fspath(path)
    manifest = manifest or read_manifest(path)
    if manifest["format"] != FORMAT:
        raise ArtifactError(f"{path}: a {manifest['format']} artifact, not a compiled module")
    weights = _read_weights(path, manifest)
    text = _read_text(path, manifest["module"])
    module = _parse(text, make_context(), os.path.join(path, manifest["module"]))
    opt_level = _opt_level(path, manifest)
    exe = _cpu_compile(module, entry=manifest["entry"], weights=weights, opt_level=opt_level)
    out_spec = None
    if manifest["out_spec"] is not None:
        from torch.utils import _pytree

        from kvc.frontend.capture import quiet_treespec_warning

        with quiet_treespec_warning():
            out_spec = _pytree.treespec_loads(manifest["out_spec"])
    return CompiledModule(exe, _report(manifest), {"kvc": text}, out_spec, text, weights,
                          input_specs=manifest.get("inputs", []), opt_level=opt_level)


def load_llm(path, manifest: dict | None = None):
    from kvc.api import CompiledLLM, _cpu_compile
    from kvc.context import make_context

    path = os.fspath(path)
    manifest = manifest or read_manifest(path)
    if manifest["format"] != LLM_FORMAT:
        raise ArtifactError(f"{path}: a {manifest['format']} artifact, not a compiled LLM")
    weights = _read_weights(path, manifest)
    context = make_context()
    exes, texts = {}, {}
    opt_level = _opt_level(path, manifest)
    for name in ("prefill", "decode"):
        rel = manifest["entries"][name]["module"]
        texts[name] = _read_text(path, rel)
        module = _parse(texts[name], context, os.path.join(path, rel))
        exes[name] = _cpu_compile(module, entry=name, weights=weights, opt_level=opt_level)
    kv = manifest["kv_cache"]
    spec = (kv["num_layers"], kv["kv_heads"], kv["head_dim"])
    ir_texts = {f"{name}:kvc": text for name, text in texts.items()}
    return CompiledLLM(exes["prefill"], exes["decode"], spec, kv["max_seq_len"], manifest["prefill_len"],
                       _report(manifest), ir_texts, texts, weights=weights, opt_level=opt_level)
