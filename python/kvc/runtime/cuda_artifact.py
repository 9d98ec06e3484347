"""On-disk form of compiled cuda modules: a directory holding

* ``manifest.json``: what the artifact is (kind, layers, kernel specs,
  launch geometry) and which file holds each PTX text and array;
* ``<name>.ptx``: PTX text, JIT-compiled by the driver at load;
* ``<name>.npy``: packed constants (device layouts of weights, scales,
  zero points, selectors, biases) as plain ``.npy`` arrays - never pickle;
  they are read with ``allow_pickle=False``.

Reading needs only json + numpy; running needs torch and the driver
(:mod:`kvc.runtime.cuda`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

FORMAT = "kvc-cuda-artifact"
VERSION = 1
MANIFEST = "manifest.json"
_SAFE = re.compile(r"^[A-Za-z0-9_.\-]+$")


class ArtifactError(ValueError):
    """A malformed or incompatible artifact (names the path and the problem)."""


def _safe(name: str, path: Path) -> str:
    if not _SAFE.match(name) or name in (".", ".."):
        raise ArtifactError(f"{path}: unsafe file name {name!r} in artifact")
    return name


def write(path, manifest: dict, ptx: dict[str, str], arrays: dict[str, np.ndarray]) -> Path:
    """Write an artifact directory. ``ptx`` / ``arrays`` are keyed by file stem."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    files = {"ptx": {}, "arrays": {}}
    for stem, text in ptx.items():
        fname = _safe(f"{stem}.ptx", path)
        (path / fname).write_text(text)
        files["ptx"][stem] = fname
    for stem, arr in arrays.items():
        arr = np.asarray(arr)
        if arr.dtype == object:
            raise ArtifactError(f"{path}: array {stem!r} has dtype object; artifacts hold numeric arrays only")
        fname = _safe(f"{stem}.npy", path)
        np.save(path / fname, np.ascontiguousarray(arr), allow_pickle=False)
        files["arrays"][stem] = fname
    doc = {"format": FORMAT, "version": VERSION, **manifest, "files": files}
    (path / MANIFEST).write_text(json.dumps(doc, indent=1, sort_keys=True))
    return path


def read(path) -> tuple[dict, dict[str, str], dict[str, np.ndarray]]:
    """(manifest, ptx texts, arrays) of an artifact directory."""
    path = Path(path)
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise ArtifactError(f"{path}: not a kvc cuda artifact (no {MANIFEST})")
    doc = json.loads(mpath.read_text())
    if doc.get("format") != FORMAT:
        raise ArtifactError(f"{mpath}: format is {doc.get('format')!r}, expected {FORMAT!r}")
    if doc.get("version") != VERSION:
        raise ArtifactError(f"{mpath}: version {doc.get('version')!r} not supported (this kvc reads {VERSION})")
    files = doc.get("files", {})
    ptx = {stem: (path / _safe(f, path)).read_text() for stem, f in files.get("ptx", {}).items()}
    arrays = {stem: np.load(path / _safe(f, path), allow_pickle=False) for stem, f in files.get("arrays", {}).items()}
    return doc, ptx, arrays
