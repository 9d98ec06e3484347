"""cuda target: register-level decoders and device layouts, checked bit-exactly
on the CPU against kvc.formats' code tables (no GPU, no MLIR)."""

import zlib

import numpy as np
import pytest

from kvc import formats
from kvc.targets.cuda.decode import NumpyBackend, lanes_to_float, plan_for, plan_for_spec, razer_row_table
from kvc.targets.cuda.layout import pack_meta, pack_weight, pair_k_offset, pair_row, razer_negated_groups
from kvc.targets.cuda.spec import CudaTargetError, GemvSpec, PAIRS, format_info

SUPPORTED = [n for n in formats.names()
             if n != "int1" and not (n.startswith("e") and int(n[1]) > 5)]


def decode_tile(spec, codes, meta=None):
    """Decode one tile x one chunk with the kernel's program; return the (16, 256)
    float64 values placed at (row, k) by the thread / pair mapping (RaZeR: with
    the sign of the device layout's group negation undone)."""
    plan = plan_for_spec(spec)
    w = pack_weight(spec, codes, meta)  # (1, 1, bits, 32, 4)
    words = [w[0, 0, q // 4, :, q % 4] for q in range(plan.nwords)]
    be = NumpyBackend()
    lane = np.arange(32)
    g, t = lane >> 2, lane & 3

    def pair_param(p):
        mw = pack_meta(spec, meta)[0, 0]
        return razer_row_table(be, np.uint32(mw), (2 * pair_row(p, g)).astype(np.uint32))

    pairs = plan.decode(be, words, pair_param if spec.info.has_meta else None, bf16=spec.act == "bfloat16")
    out = np.full((16, 256), np.nan)
    seen = np.zeros((16, 256), dtype=int)
    for p in range(PAIRS):
        lo, hi = lanes_to_float(pairs[p], spec.act == "bfloat16")
        if plan.subnormal:  # u * 2^(T-24) -> alpha * u + beta
            u = 2.0 ** (24 - plan.tile_shift[p // 4])
            lo, hi = (spec.info.alpha * lo * u + spec.info.beta, spec.info.alpha * hi * u + spec.info.beta)
        r = pair_row(p, g)
        k = pair_k_offset(spec.wide, p, t)
        out[r, k], out[r, k + 1] = lo, hi
        seen[r, k] += 1
        seen[r, k + 1] += 1
    assert np.all(seen == 1), "every (row, k) of the chunk is decoded exactly once"
    if spec.info.has_meta:
        out = np.where(razer_negated_groups(meta)[:, :1], -out, out)
    return out


@pytest.mark.parametrize("name", SUPPORTED)
@pytest.mark.parametrize("act", ["float16", "bfloat16"])
def test_every_code_decodes_to_its_table_value(name, act):
    fmt = formats.get(name)
    info = format_info(name)
    spec = GemvSpec(name, 16, 256, 256, act=act)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    ncodes = 1 << fmt.bits
    # every code appears, at random positions, plus random fill
    codes = rng.integers(0, ncodes, size=(16, 256)).astype(np.uint8)
    flat = codes.reshape(-1)
    flat[rng.permutation(flat.size)[:ncodes]] = np.arange(ncodes, dtype=np.uint8)
    meta = rng.integers(0, 4, size=(16, 1)).astype(np.uint8) if info.has_meta else None
    got = decode_tile(spec, codes, meta)
    if info.has_meta:
        want = np.stack([fmt.table(sv) for sv in formats.RAZER_SPECIAL_VALUES])[meta[:, 0][:, None], codes]
    else:
        want = fmt.table()[codes]
    if name == "e4m3":
        # documented deviation: OCP E4M3FN's NaN pattern S.1111.111 decodes to +-480
        nan = np.isnan(want)
        assert np.all(np.abs(got[nan]) == 480.0)
        got, want = got[~nan], want[~nan]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", SUPPORTED)
def test_layout_uses_every_bit_once(name):
    plan = plan_for(format_info(name))  # DecodePlan._check raises on overlaps / gaps
    assert plan.nwords == 4 * plan.bits
    assert sum(p.width for p in plan.pieces) == PAIRS * plan.bits


AFFINE_INT_FORMATS = [n for n in SUPPORTED if format_info(n).kind == "int" and format_info(n).affine]


@pytest.mark.parametrize("name", AFFINE_INT_FORMATS)
def test_subnormal_layout_gives_each_tile_one_position(name):
    plan = plan_for(format_info(name), True)  # _check: every bit once
    assert sum(p.width for p in plan.pieces) == PAIRS * plan.bits
    # one mantissa position T per A tile, fields inside the 10 mantissa bits
    # (so every decoded lane is an fp16 subnormal)
    assert all(plan.pair_target[p] == plan.tile_shift[p // 4] for p in range(PAIRS))
    assert all(pc.target + pc.width <= 10 for pc in plan.pieces)


def test_int_decode_is_one_fma_per_pair():
    class Count:
        def __init__(self):
            self.ops = {}

        def _n(self, k):
            self.ops[k] = self.ops.get(k, 0) + 1
            return object()

        def const(self, c):
            return object()

        def __getattr__(self, name):
            return lambda *a: self._n(name)

    c = Count()
    plan = plan_for(format_info("int4"))
    plan.decode(c, [object()] * plan.nwords)
    assert c.ops["hfma2c"] == PAIRS  # exactly one half2 FMA per pair of codes
    assert c.ops["shr"] <= 16  # a shared shift serves two nibble pairs of a word

    c = Count()
    plan = plan_for(format_info("uint2"), True)
    plan.decode(c, [object()] * plan.nwords)
    assert "hfma2c" not in c.ops and "orc" not in c.ops  # fp16 subnormals: no magic, no FMA
    assert c.ops["andc"] == PAIRS  # one mask per pair of codes
    assert c.ops["shr"] == plan.nwords  # one shifted copy per word


@pytest.mark.parametrize("bad, msg", [
    (dict(fmt="int1"), "int1"),
    (dict(fmt="e6m1"), "exponent"),
    (dict(group_size=48), "group size 48"),
    (dict(group_size=24, k=4096), "group size 24"),
    (dict(warps=17), "warps"),
    (dict(act="float32"), "activation dtype"),
])
def test_unsupported_specs_name_the_value(bad, msg):
    args = dict(fmt="int4", n=64, k=512, group_size=128) | bad
    with pytest.raises(CudaTargetError, match=msg):
        GemvSpec(**args)
