"""cuda target: compile_linear(s), artifacts, the runtime's variant choice and
driver error reporting. GPU execution is covered by
``python -m kvc.targets.cuda.check`` on a GPU machine; here GPU tests skip
with the reason."""

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from kvc import formats
from kvc.runtime.cuda import CudaDriverError, available
from kvc.targets import cuda as C
from kvc.targets.cuda.spec import CudaTargetError, GemvSpec, pick_variant

pytest.importorskip("mlir", reason="compiling needs the MLIR bindings (PTX generation)")


def small_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(300, 64), torch.nn.GELU(), torch.nn.Linear(64, 48),
                               torch.nn.SiLU(), torch.nn.Linear(48, 24, bias=False), torch.nn.ReLU())


def eager_reference(model, x, fmt="int4", g=64):
    """Eager torch with dequantized weights, activations rounded to fp16 between layers
    (what a CudaModel with float16 activations computes)."""
    h = torch.from_numpy(x).double()
    for mod in model:
        if isinstance(mod, torch.nn.Linear):
            qt = formats.get(fmt).quantize(mod.weight.detach().numpy(), group_size=g)
            h = h @ torch.from_numpy(qt.dequantize()).double().T
            if mod.bias is not None:
                h = h + mod.bias.detach().double()
            h = h.half().double()
        else:
            h = mod(h.float()).half().double()
    return h.numpy()


def test_compile_linears_matches_eager_and_round_trips(tmp_path):
    model = small_model()
    cm = C.compile_linears(model, weights="int4:g64")
    assert [type(l).__name__ if not isinstance(l, str) else l for l in cm.layers] == \
        ["CudaLinear", "gelu", "CudaLinear", "silu", "CudaLinear", "relu"]
    x = np.random.default_rng(1).standard_normal((5, 300)).astype(np.float16).astype(np.float64)
    ref = eager_reference(model, x)
    got = cm.simulate(x)
    # fp16 activations between layers: each layer rounds to 2^-11 relative
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 2e-3
    cm.save(tmp_path / "art")
    doc = json.loads((tmp_path / "art" / "manifest.json").read_text())
    assert doc["format"] == "kvc-cuda-artifact" and doc["kind"] == "model"
    files = sorted(p.name for p in (tmp_path / "art").iterdir())
    assert all(f.endswith((".ptx", ".npy", ".json")) for f in files)
    for f in files:
        if f.endswith(".npy"):
            np.load(tmp_path / "art" / f, allow_pickle=False)  # plain arrays, never pickle
    back = C.load(tmp_path / "art")
    np.testing.assert_array_equal(back.simulate(x), got)
    rep = back.report()
    # device bytes: codes padded to 16-row tiles x 256-wide chunks, fp16 scale pairs, fp32 biases
    want = sum(s.n_pad * s.k_pad * s.bits // 8 + 4 * s.scale_words + (4 * s.n if s.bias else 0)
               for s in (l.spec for l in back.linears))
    assert rep["device_bytes"] == want


def test_artifact_loads_and_runs_without_mlir(tmp_path):
    lin = C.compile_linear(np.random.default_rng(2).standard_normal((40, 520)).astype(np.float32), "razer4", 128,
                           bias=np.arange(40, dtype=np.float32))
    lin.save(tmp_path / "lin")
    x = np.random.default_rng(3).standard_normal((2, 520)).astype(np.float16).astype(np.float64)
    np.save(tmp_path / "x.npy", x)
    want = lin.simulate(x)
    code = (
        "import sys; sys.modules['mlir'] = None\n"  # any MLIR import now fails
        "import numpy as np, kvc, kvc.runtime.cuda, kvc.targets.cuda as C\n"
        f"lin = C.load({str(tmp_path / 'lin')!r})\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, lin.simulate(np.load({str(tmp_path / 'x.npy')!r})))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), want)


def test_compile_linears_rejects_other_layers():
    with pytest.raises(CudaTargetError, match="layer 1 is LayerNorm"):
        C.compile_linears(torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.LayerNorm(64)))


def test_variant_choice_model():
    # 8192x8192, 4-bit: W=8 fits 3 blocks/SM (2 waves), W=4 all 512 blocks at once
    assert pick_variant(512, 32, 4, [(8, 3), (4, 8), (16, 1)], 132) == 1
    # 2-bit moves half the bytes per warp: needs the warps of W=8 (5 blocks/SM, one wave)
    assert pick_variant(512, 32, 2, [(4, 9), (8, 5)], 132) == 1
    # few tiles (N=4096): 16 warps per block keeps ~31 warps on each SM
    assert pick_variant(256, 16, 4, [(4, 8), (8, 3), (16, 3)], 132) == 2
    # an option that fits no block is never chosen
    assert pick_variant(512, 32, 4, [(16, 0), (4, 8)], 132) == 1
    # 8 warps capped at 64 registers fit 4 blocks/SM: one wave at twice the warps of W=4
    assert pick_variant(512, 32, 4, [(4, 8, False), (8, 3, False), (16, 1, False), (8, 4, True)], 132) == 3
    # the capped variant ties with the uncapped one when both fit: the capped one wins
    assert pick_variant(512, 32, 2, [(8, 5, False), (8, 4, True)], 132) == 1
    # a capped variant the runtime refused (it spills: blocks set to 0) is never chosen
    assert pick_variant(512, 32, 4, [(4, 8, False), (8, 0, True)], 132) == 0
    # long K (8192x28672, 112 chunks), equal warps per SM (W4 x 5 blocks vs W8 x 2):
    # the 8-warp blocks win the tie (each warp still streams 14 chunks)
    assert pick_variant(512, 112, 4, [(4, 5), (8, 2), (16, 1)], 132) == 1
    # ... but not at K = 8192 (4 chunks per warp of W8): fewer warps
    assert pick_variant(512, 32, 4, [(4, 5), (8, 2)], 132) == 0
    # ... nor when the 8-warp blocks need 1.3 waves (3 per SM) against one for W4
    assert pick_variant(512, 112, 4, [(4, 7), (8, 3)], 132) == 0


def test_variant_options_carry_the_capped_variants():
    from kvc.targets.cuda.spec import (BUDGET_VARIANTS, CAPPED_VARIANTS, RAZER_EXTRA_WARPS, choose_warps,
                                       measured_only, variant_options)

    every = [o for o in variant_options(8192, 28672, "int4") if not o[4]]
    opts = [o for o in every if not measured_only(o[0], o[1], o[3])]
    assert opts[0] == (choose_warps(8192, 28672, "int4"), 0, 1, False, False)
    assert sorted(w for w, r, t, s, _ in opts if r == 0) == [4, 8, 16]
    # 8 warps capped with rolling reloads, 16 warps capped without
    assert [(w, r, s) for w, r, t, s, _ in opts if r] == list(CAPPED_VARIANTS) == [(8, 64, True), (16, 64, False)]
    # then the register-budget variants, for the runtime's measurement only
    assert [(w, r, s) for w, r, t, s, _ in every if measured_only(w, r, s)] == list(BUDGET_VARIANTS)
    assert all(t == 1 for _, _, t, _, _ in opts)  # no two-row-tile blocks for 4-bit
    # K too short for 8 warps: no capped variant, warp counts clipped to the chunks
    assert variant_options(64, 512, "int4") == [(2, 0, 1, False, False), (2, 0, 1, False, True)]
    # 12 chunks: the 8-warp capped variant only
    assert [o for o in variant_options(64, 3072, "int4") if o[1] and not o[4]
            and not measured_only(o[0], o[1], o[3])] == [(8, 64, 1, True, False)]
    # budget variants need a chunk per warp as well (5 chunks: W4 and W5 only)
    # (and their scales-in-lanes twins: one trip each)
    assert [o[:2] + o[4:] for o in variant_options(64, 1280, "int4") if measured_only(o[0], o[1], o[3])] == [
        (5, 96, False), (4, 128, False), (5, 96, True), (4, 128, True)]
    # RaZeR also carries its 6-warp blocks
    assert (RAZER_EXTRA_WARPS, 0, 1, False, False) in variant_options(8192, 8192, "razer4")
    # 2-bit integers carry two-row-tile blocks of each warp count (none for a single tile)
    two = [o for o in variant_options(8192, 8192, "int2") if o[2] == 2 and not o[4]]
    assert two == [(4, 0, 2, False, False), (8, 0, 2, False, False), (16, 0, 2, False, False),
                   (8, 128, 2, False, False)]  # the last: a two-tile budget variant
    assert measured_only(8, 128, False, 2) and not measured_only(8, 0, False, 2)
    assert all(o[2] == 1 for o in variant_options(16, 8192, "uint2"))


def test_the_model_never_picks_a_budget_variant():
    from kvc.targets.cuda.linear import model_options, variant_specs

    specs = variant_specs(GemvSpec("razer4", 8192, 8192, 128))
    budget = [i for i, vs in enumerate(specs) if (vs.nwarps, vs.maxnreg) == (4, 128)]
    assert budget
    # give the budget variant the best occupancy of all: the model still skips it
    opts = [(vs.nwarps, 16 if i in budget else 2, bool(vs.maxnreg), vs.row_tiles) for i, vs in enumerate(specs)]
    scored = model_options(opts, [(vs, "") for vs in specs])
    assert all(scored[i][1] == 0 for i in budget)
    assert pick_variant(512, 32, 4, scored, 132) not in budget


def test_variant_options_add_scales_in_lanes_for_short_loops():
    from kvc.targets.cuda.spec import LANE_SCALE_TRIPS, lane_scales_fit, variant_options

    opts = variant_options(8192, 8192, "int4")
    base = [o for o in opts if not o[4]]
    twins = [o for o in opts if o[4]]
    # a twin for every variant whose warps own <= 4 of the 32 chunks: W8 (x2), W16 (x2)
    assert twins == [o[:4] + (True,) for o in base if -(-32 // o[0]) <= LANE_SCALE_TRIPS]
    assert sorted(o[0] for o in twins) == [8, 8, 16, 16]
    # long K (112 chunks) or another group size: none
    assert not any(o[4] for o in variant_options(8192, 28672, "int4"))
    assert not any(o[4] for o in variant_options(8192, 8192, "int4", group_size=64))
    assert not lane_scales_fit(16, 200, 128, 1)  # no full chunk
    with pytest.raises(CudaTargetError, match="lane_scales needs group size 128"):
        GemvSpec("int4", 4096, 8192, 128, warps=4, lane_scales=True)


def test_variant_choice_with_row_tiles_and_razer_warps():
    # options (W, B, capped, row tiles) with the blocks per SM of the H100 run 23
    # (bench/notes_cuda.md); the measured fastest variant of each case is picked
    int2 = [(8, 4, True, 1), (8, 5, False, 1), (16, 2, False, 1), (4, 9, False, 1),
            (4, 7, False, 2), (8, 3, False, 2), (16, 1, False, 2)]
    # 28672x8192: two row tiles of 4 warps (26.6 us, one row tile at best 27.6)
    assert pick_variant(1792, 32, 2, int2, 132) == 4
    # 8192x8192: two row tiles halve the blocks to 256, 15.5 warps per SM (11.5 us vs 9.4)
    assert pick_variant(512, 32, 2, int2, 132) == 0
    # 4096x4096: one row tile, 16 warps (3.9 us; two row tiles 4.4)
    assert pick_variant(256, 16, 2, [(16, 2, False, 1), (16, 2, False, 2), (8, 2, False, 2)], 132) == 0
    # RaZeR 8192x8192: 6-warp blocks, 4 per SM, one wave (15.7 us; W4 16.8, W8 18.4)
    assert pick_variant(512, 32, 4, [(4, 7, False), (8, 3, False), (16, 1, False), (6, 4, False)], 132) == 3
    # ... but at 28672x8192 W4 blocks keep 7 per SM (47.2 us; W6 47.1, W8 47.5)
    assert pick_variant(1792, 32, 4, [(4, 7, False), (8, 3, False), (16, 1, False), (6, 4, False)], 132) == 0


def test_variant_choice_with_the_rolling_capped_variant():
    # options (W, B, capped, row tiles) of the artifact's variants with the
    # blocks per SM of the H100 run 25 (bench/notes_cuda.md): W4, W8, W16,
    # W6 (RaZeR), W8 capped with rolling reloads, W16 capped (0: it spills)
    razer = [(4, 7, False, 1), (8, 3, False, 1), (16, 1, False, 1), (6, 4, False, 1), (8, 4, True, 1),
             (16, 0, True, 1)]
    # RaZeR 8192x8192: the rolling 8-warp kernel fits 4 blocks per SM (15.4 us; W6 15.9)
    assert pick_variant(512, 32, 4, razer, 132) == 4
    # int4 4096x4096: 16 warps capped (5.0 us) over uncapped (5.5): same blocks, capped wins the tie
    int4 = [(16, 3, False, 1), (4, 8, False, 1), (8, 3, False, 1), (8, 4, True, 1), (16, 2, True, 1)]
    assert pick_variant(256, 16, 4, int4, 132) == 4


def test_a_measured_variant_replaces_the_model_pick_only_when_clearly_faster():
    from kvc.targets.cuda.linear import MEASURE_MARGIN, prefer_measured

    # int2 8192x28672 on the H100 (run 25): the model picks W8 (28.3 us), two
    # row tiles of 16 warps measure 27.2 us
    assert prefer_measured({0: 28.3, 1: 27.2, 2: 29.0}, model=0) == 1
    # within the margin the model's pick stays
    assert prefer_measured({0: 10.0, 1: 10.0 * (1 - MEASURE_MARGIN / 2)}, model=0) == 0
    assert prefer_measured({0: 10.0, 1: 12.0}, model=0) == 0


def test_near_ties_with_the_model_pick_are_timed_again():
    from kvc.targets.cuda.linear import MEASURE_CONFIRM_WINDOW, MEASURE_CONFIRMED_MARGIN, confirm_contenders, prefer_measured

    # int4 8192x8192 on the H100 (run 59, first pass): the model's W8 r64 rolling
    # pick 13.6 us, W6 r80 rolling 13.4, W5 r96 13.5, W4 16.8
    first = {0: 13.6, 1: 13.4, 2: 13.5, 3: 16.8}
    assert confirm_contenders(first, model=0) == [0, 1, 2]
    # nothing to confirm when the model's pick is the fastest
    assert confirm_contenders({0: 13.4, 1: 13.5}, model=0) == []
    # the window is relative to the fastest, and the model's pick always takes part
    edge = 13.4 * (1 + MEASURE_CONFIRM_WINDOW)
    assert confirm_contenders({0: 20.0, 1: 13.4, 2: edge * 0.999, 3: edge * 1.001}, model=0) == [0, 1, 2]
    # after confirmation a gain above the smaller margin is taken, one below it is not
    assert prefer_measured({0: 13.6, 1: 13.45}, model=0, margin=MEASURE_CONFIRMED_MARGIN) == 1
    assert prefer_measured({0: 13.6, 1: 13.6 * (1 - MEASURE_CONFIRMED_MARGIN / 2)}, model=0,
                           margin=MEASURE_CONFIRMED_MARGIN) == 0


def test_variants_of_one_linear_must_share_the_device_layout():
    from kvc.targets.cuda.linear import CudaLinear
    from kvc.targets.cuda.spec import GemvSpec

    base = GemvSpec("int4", 64, 1024, 128, warps=4)
    same = [GemvSpec("int4", 64, 1024, 128, warps=8, maxnreg=64), GemvSpec("int4", 64, 1024, 128, warps=2, depth=2),
            GemvSpec("int4", 64, 1024, 128, warps=4, row_tiles=2)]
    assert all(v.layout_key() == base.layout_key() for v in same)
    CudaLinear(base, {}, "", variants=[(base, "")] + [(v, "") for v in same])
    for other in (GemvSpec("int3", 64, 1024, 128, warps=4), GemvSpec("int4", 64, 1024, 64, warps=4),
                  GemvSpec("int4", 64, 1024, 128, warps=4, act="bfloat16")):
        with pytest.raises(CudaTargetError, match="does not match"):
            CudaLinear(base, {}, "", variants=[(base, ""), (other, "")])


def test_driver_errors_name_call_and_kernel():
    err = CudaDriverError("cuLaunchKernel(grid=(1, 1, 1), block=(2048, 1, 1))", 1, "CUDA_ERROR_INVALID_VALUE",
                          "invalid argument", "kvc_gemv_x")
    assert "cuLaunchKernel" in str(err) and "kvc_gemv_x" in str(err) and "CUDA_ERROR_INVALID_VALUE" in str(err)


def test_runs_on_gpu_when_present():
    ok, why = available()
    if not ok:
        pytest.skip(f"no usable GPU: {why}")
    lin = C.compile_linear(np.random.default_rng(4).standard_normal((70, 999)).astype(np.float32), "int3", 999,
                           out="float32")
    x = np.random.default_rng(5).standard_normal((11, 999)).astype(np.float16)
    y = lin(torch.from_numpy(x).cuda()).double().cpu().numpy()
    want = lin.simulate(x.astype(np.float64))
    assert np.linalg.norm(y - want) / np.linalg.norm(want) < 1e-5


def test_programmatic_dependent_launch_switch(monkeypatch):
    """KVC_CUDA_PDL / set_pdl decide; the launch structs have the driver's sizes
    (CUlaunchAttribute 72 bytes, CUlaunchConfig 56) - no GPU needed."""
    import ctypes

    from kvc.runtime import cuda as rt

    assert ctypes.sizeof(rt._LaunchAttribute) == 72 and ctypes.sizeof(rt._LaunchConfig) == 56
    assert rt._LaunchConfig.hStream.offset == 32 and rt._LaunchConfig.numAttrs.offset == 48
    assert rt._LaunchAttribute.value.offset == 8
    try:
        rt.set_pdl(None)
        monkeypatch.setenv("KVC_CUDA_PDL", "0")
        assert not rt.pdl_enabled()
        monkeypatch.setenv("KVC_CUDA_PDL", "1")
        assert rt.pdl_enabled()
        rt.set_pdl(False)
        assert not rt.pdl_enabled()
    finally:
        rt.set_pdl(None)


def test_artifact_keeps_every_variant_apart(tmp_path):
    # two variants with the same warp count (uncapped and register-capped) must
    # come back from an artifact each with its own PTX
    from kvc.targets.cuda.linear import CudaLinear
    from kvc.targets.cuda.spec import GemvSpec

    specs = [GemvSpec("int4", 64, 2048, 128, warps=w, maxnreg=r, row_tiles=t)
             for w, r, t in ((4, 0, 1), (8, 0, 1), (8, 64, 1), (8, 0, 2))]
    variants = [(s, f"// PTX of {s.name}\n") for s in specs]
    arrays = {"w": np.arange(8, dtype=np.uint32), "scales": np.arange(4, dtype=np.uint32)}
    CudaLinear(specs[0], arrays, variants[0][1], variants=variants).save(tmp_path / "lin")
    back = C.load(tmp_path / "lin")
    assert [(s.name, p) for s, p in back.variants] == [(s.name, p) for s, p in variants]
