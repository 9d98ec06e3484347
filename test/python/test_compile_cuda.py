"""kvc.compile(..., target="cuda") and kvc.load of its artifact.

Compiling for cuda needs no GPU (PTX comes from the NVPTX backend), so CI checks
the whole path here with the kernels' bit-exact CPU emulation (``simulate``);
the kernels themselves are checked on the H100 by ``python -m kvc.targets.cuda.check``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import kvc
from kvc import formats


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(256, 384), torch.nn.GELU(), torch.nn.Linear(384, 130),
                               torch.nn.SiLU(), torch.nn.Linear(130, 64, bias=False)).eval()


def _dequantized_eager(model, fmt, group_size):
    eager = _model()
    eager.load_state_dict(model.state_dict())
    with torch.no_grad():
        for layer in eager:
            if isinstance(layer, torch.nn.Linear):
                w = layer.weight.numpy()
                layer.weight.copy_(torch.from_numpy(formats.get(fmt).quantize(w, group_size=group_size).dequantize()))
    return eager


@pytest.mark.parametrize("fmt", ["int4:g64", "razer4:g64", "uint3:g32"])
def test_cuda_target_matches_dequantized_eager(fmt, tmp_path):
    model = _model()
    x = torch.randn(3, 256, generator=torch.Generator().manual_seed(1))
    compiled = kvc.compile(model, (x.half(),), target="cuda", weights=fmt)
    name, group = fmt.split(":g")
    ref = _dequantized_eager(model, name, int(group))(x).detach().numpy()
    got = np.asarray(compiled.simulate(x.numpy()), dtype=np.float64)
    # Activations are fp16 between layers (unit roundoff 2^-11 ~ 4.9e-4 per rounding):
    # measured ~5e-4 for all three formats. A defect such as quantizing with the wrong
    # group size measures 7e-2 to 2e-1, so 1e-2 separates the two with margin both ways.
    rel = np.linalg.norm(got - ref) / np.linalg.norm(ref)
    assert rel < 1e-2, f"{fmt}: relative error {rel:.2e}"

    path = compiled.save(tmp_path / "art")
    code = textwrap.dedent(f"""
        import sys
        sys.modules["mlir"] = None          # a GPU box has no MLIR: importing it must not be needed
        import numpy as np, kvc
        loaded = kvc.load({str(path)!r})
        x = np.load({str(tmp_path / 'x.npy')!r})
        np.save({str(tmp_path / 'y.npy')!r}, np.asarray(loaded.simulate(x), dtype=np.float64))
    """)
    np.save(tmp_path / "x.npy", x.numpy())
    subprocess.run([sys.executable, "-c", code], check=True)
    assert np.array_equal(np.load(tmp_path / "y.npy"), got)


def test_cuda_target_needs_a_format_and_linears():
    model = _model()
    x = torch.randn(2, 256).half()
    with pytest.raises(kvc.CompileError, match="pass weights=<format>"):
        kvc.compile(model, (x,), target="cuda")
    conv = torch.nn.Sequential(torch.nn.Linear(256, 64), torch.nn.LayerNorm(64))
    with pytest.raises(kvc.CompileError, match="LayerNorm.*use target='cpu'"):
        kvc.compile(conv, (x,), target="cuda", weights="int4:g64")
    with pytest.raises(kvc.CompileError, match="not supported by kvc.compile yet"):
        kvc.compile(model, (x,), target="amx", weights="int4:g64")
