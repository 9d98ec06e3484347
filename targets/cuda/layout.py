"""Offline re-layout of quantized weights for the cuda GEMV kernels, and a
numpy simulator of the kernel's arithmetic (pure numpy; no MLIR, no GPU).

Input is the canonical kvc quantized tensor (``kvc.formats``: one code per
element, fp16 scales per group along K, optional fp16 zeros, optional RaZeR
selectors). Output is what the kernel reads:

``w``       uint32 [tiles][chunks][bits][32 lanes][4]: thread (tile, lane)
            loads ``bits`` 16-byte vectors per chunk; vector l of all 32 lanes
            is one contiguous 512-byte segment (fully coalesced). Inside a
            thread's 4*bits words the code bits sit where :mod:`decode` wants
            them.
``scales``  uint32 [tiles][dev_groups][8]: word g holds the fp16 scales of
            rows g (low half) and g+8 (high half) of the tile - exactly the
            two rows whose accumulators thread (g, t) owns.
``zeros``   same layout as ``scales`` (uint, bipolar).
``meta``    uint32 [tiles][dev_groups]: 2-bit RaZeR selector of row r at bits 2r.
            RaZeR groups with a positive special value are stored negated
            (scale and code signs), so that every stored SV is negative.

Rows beyond N and k beyond K are padded with code 0 (a finite value) and
scale 0; the kernel zeroes the matching activations, so padding adds exactly 0.

Thread / code mapping (one chunk of 256 k, lane = 4*g + t): pair p =
16*s + 4*j + r is the A register r of MMA j in step s; it holds row
``g + 8*(r & 1)`` at k = ``256*c + 64*s + 2*(r >> 1) + o`` and k+1, with
``o = 16*t + 4*j`` (wide mapping) or ``16*j + 4*t`` (narrow). The x fragment
of the same MMA is ``x[m, 256*c + 64*s + o + {0,1,2,3}]``, so A and B agree
on every k slot of ``mma.m16n8k16`` (PTX ISA fragment layouts).
"""

from __future__ import annotations

import numpy as np

from .decode import NumpyBackend, lanes_to_float, plan_for_spec, razer_code_flip, razer_row_table
from .spec import CHUNK_K, LANES, MAX_M, MMA_K, STEP_K, TILE_N, CudaTargetError, GemvSpec


def pair_coords(p: int) -> tuple[int, int, int]:
    """(step s, mma j, register r) of pair p."""
    return p // 16, (p // 4) % 4, p % 4


def pair_k_offset(wide: bool, p: int, t):
    """k of the pair's first code relative to its chunk start, for lane column t."""
    s, j, r = pair_coords(p)
    o = 16 * t + 4 * j if wide else 16 * j + 4 * t
    return STEP_K * s + 2 * (r >> 1) + o


def pair_row(p: int, g):
    return g + 8 * (p % 4 & 1)


def mma_group(spec: GemvSpec, c, s: int, j: int):
    """Group index (device numbering) of MMA j of step s of chunk c."""
    return (CHUNK_K * np.asarray(c) + STEP_K * s + MMA_K * j) // spec.eff_group


# ----------------------------------------------------------------------- packing
def check_quantized(spec: GemvSpec, qt) -> None:
    """Raise CudaTargetError unless ``qt`` is the (N, K) tensor ``spec`` expects."""
    if tuple(qt.shape) != (spec.n, spec.k):
        raise CudaTargetError(f"cuda gemv {spec.name}: weight shape {tuple(qt.shape)} != (N, K) = ({spec.n}, {spec.k})")
    if qt.axis != 1:
        raise CudaTargetError(f"cuda gemv {spec.name}: weight must be quantized along K (axis 1), got axis {qt.axis}")
    if qt.format.name != spec.fmt:
        raise CudaTargetError(f"cuda gemv {spec.name}: weight format {qt.format.name} != {spec.fmt}")
    if spec.single_group:
        if qt.scales.shape[1] != 1:
            raise CudaTargetError(f"cuda gemv {spec.name}: expected one group per row, got {qt.scales.shape[1]}")
    elif qt.group_size != spec.group_size:
        raise CudaTargetError(f"cuda gemv {spec.name}: weight group size {qt.group_size} != {spec.group_size}")
    if qt.scales.dtype != np.float16 or (qt.zeros is not None and qt.zeros.dtype != np.float16):
        raise CudaTargetError(f"cuda gemv {spec.name}: scales / zeros must be float16, got {qt.scales.dtype}")
    if bool(qt.zeros is not None) != spec.info.affine:
        raise CudaTargetError(f"cuda gemv {spec.name}: zero points {'missing' if spec.info.affine else 'unexpected'}")


def razer_negated_groups(meta: np.ndarray) -> np.ndarray:
    """(N, groups) bool: the RaZeR groups whose special value is positive.
    The device layout negates them (scale and code signs), so that every
    group's special value is negative: entry 4 of the kernel's flag-0 table
    (see decode.py)."""
    from kvc.formats import RAZER_SPECIAL_VALUES

    sv = np.asarray(RAZER_SPECIAL_VALUES, dtype=np.float64)
    return sv[np.asarray(meta, dtype=np.int64)] > 0


def pack_weight(spec: GemvSpec, codes: np.ndarray, meta: np.ndarray | None = None) -> np.ndarray:
    """Canonical (N, K) uint8 codes -> device words (see module docstring).
    RaZeR needs the group selectors ``meta`` (codes of positive-SV groups are
    sign-flipped; :func:`pack_quantized` negates their scales)."""
    info = spec.info
    plan = plan_for_spec(spec)
    codes = np.asarray(codes, dtype=np.uint8)
    if info.has_meta:
        if meta is None:
            raise CudaTargetError(f"cuda gemv {spec.name}: RaZeR weights need their group selectors")
        group = spec.k if spec.single_group else spec.group_size
        neg = razer_negated_groups(meta)[:, np.arange(spec.k) // group]
        codes = np.where(neg, razer_code_flip(codes), codes)
    codes = plan.store_codes(codes)
    dev = np.zeros((spec.n_pad, spec.k_pad), dtype=np.uint32)
    dev[: spec.n, : spec.k] = codes
    if info.xor:
        dev[: spec.n, : spec.k] ^= np.uint32(info.xor)
    T, C = spec.tiles, spec.chunks
    lane = np.arange(LANES)
    g, t = lane >> 2, lane & 3
    tile_row = (np.arange(T) * TILE_N)[:, None, None]
    chunk_k = (np.arange(C) * CHUNK_K)[None, :, None]
    words = np.zeros((T, C, LANES, plan.nwords), dtype=np.uint32)
    for pc in plan.pieces:
        row = tile_row + pair_row(pc.pair, g)[None, None, :]
        k = chunk_k + pair_k_offset(spec.wide, pc.pair, t)[None, None, :]
        mask = np.uint32((1 << pc.width) - 1)
        lo = (dev[row, k] >> np.uint32(pc.src)) & mask
        hi = (dev[row, k + 1] >> np.uint32(pc.src)) & mask
        words[..., pc.word] |= (lo << np.uint32(pc.pos_lo)) | (hi << np.uint32(pc.pos_hi))
    # [T][C][lane][q] -> [T][C][l][lane][e] with q = 4*l + e
    return np.ascontiguousarray(words.reshape(T, C, LANES, spec.bits, 4).transpose(0, 1, 3, 2, 4))


def _row_pairs(spec: GemvSpec, a: np.ndarray) -> np.ndarray:
    """(N, groups) fp16 -> uint32 [tiles][dev_groups][8]: rows g | g+8 << 16."""
    pad = np.zeros((spec.n_pad, spec.dev_groups), dtype=np.float16)
    pad[: spec.n, : a.shape[1]] = a
    bits = pad.view(np.uint16).astype(np.uint32).reshape(spec.tiles, TILE_N, spec.dev_groups)
    words = bits[:, :8, :] | (bits[:, 8:, :] << np.uint32(16))
    return np.ascontiguousarray(words.transpose(0, 2, 1))


def pack_meta(spec: GemvSpec, meta: np.ndarray) -> np.ndarray:
    pad = np.zeros((spec.n_pad, spec.dev_groups), dtype=np.uint32)
    pad[: spec.n, : meta.shape[1]] = meta
    r = pad.reshape(spec.tiles, TILE_N, spec.dev_groups)
    shifts = (2 * np.arange(TILE_N, dtype=np.uint32))[None, :, None]
    return np.ascontiguousarray(np.bitwise_or.reduce(r << shifts, axis=1))


def pack_quantized(spec: GemvSpec, qt, bias=None) -> dict[str, np.ndarray]:
    """Every device array of one linear, by kernel parameter name."""
    check_quantized(spec, qt)
    scales = qt.scales
    if spec.info.has_meta:
        scales = np.where(razer_negated_groups(qt.meta), -scales, scales).astype(np.float16)
    out = {"w": pack_weight(spec, qt.codes, qt.meta if spec.info.has_meta else None),
           "scales": _row_pairs(spec, scales)}
    if spec.info.affine:
        out["zeros"] = _row_pairs(spec, qt.zeros)
    if spec.info.has_meta:
        out["meta"] = pack_meta(spec, qt.meta)
    if spec.bias:
        if bias is None:
            raise CudaTargetError(f"cuda gemv {spec.name}: compiled with a bias but none given")
        b = np.asarray(bias, dtype=np.float32).reshape(-1)
        if b.shape != (spec.n,):
            raise CudaTargetError(f"cuda gemv {spec.name}: bias shape {b.shape} != ({spec.n},)")
        out["bias"] = b.copy()
    sizes = {"w": spec.weight_vecs * 4, "scales": spec.scale_words, "zeros": spec.scale_words, "meta": spec.meta_words}
    for name, arr in out.items():
        if name in sizes and arr.size != sizes[name]:
            raise AssertionError(f"{name}: {arr.size} words, expected {sizes[name]}")
    return out


# --------------------------------------------------------------------- simulator
def _halves(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return lanes_to_float(words, bf16=False)


def simulate(spec: GemvSpec, arrays: dict[str, np.ndarray], x) -> np.ndarray:
    """What the kernel computes, emulated in numpy from the device arrays.

    Decodes every thread's registers with the same decode program the
    kernel runs (bit-exact), assembles MMA fragments by the PTX ISA layout of
    ``mma.m16n8k16`` (A rows g / g+8, B columns g), and accumulates per group
    in float64. ``x``: (M, K) activations already representable in the
    activation dtype. Returns (M, N) float64.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != spec.k or not (1 <= x.shape[0] <= MAX_M):
        raise CudaTargetError(f"simulate {spec.name}: x must be (M<=8, {spec.k}), got {x.shape}")
    M = x.shape[0]
    info = spec.info
    plan = plan_for_spec(spec)
    bf16 = spec.act == "bfloat16"
    T, C, b = spec.tiles, spec.chunks, spec.bits
    be = NumpyBackend()
    wv = arrays["w"].reshape(T, C, b, LANES, 4)
    words = [wv[:, :, q // 4, :, q % 4] for q in range(plan.nwords)]
    lane = np.arange(LANES)
    g, t = lane >> 2, lane & 3
    cidx = np.arange(C)

    def pair_param(p):
        s, j, r = pair_coords(p)
        grp = mma_group(spec, cidx, s, j)  # (C,)
        mw = arrays["meta"].reshape(T, spec.dev_groups)[:, grp][:, :, None]
        shift = (2 * pair_row(p, g)).astype(np.uint32)[None, None, :]
        return razer_row_table(be, mw, shift)

    pairs = plan.decode(be, words, pair_param if info.has_meta else None, bf16=bf16)
    xpad = np.zeros((MAX_M, spec.k_pad), dtype=np.float64)
    xpad[:M, : spec.k] = x
    xcol = np.minimum(g, M - 1)  # lanes beyond M read row M-1 (their outputs are dropped)

    scl = arrays["scales"].reshape(T, spec.dev_groups, 8)
    s_lo, s_hi = _halves(scl)
    s_rows = np.concatenate([s_lo, s_hi], axis=2)  # (T, DG, 16) rows 0..15
    if info.affine:
        z_lo, z_hi = _halves(arrays["zeros"].reshape(T, spec.dev_groups, 8))
        z_rows = np.concatenate([z_lo, z_hi], axis=2)
    y = np.zeros((T, TILE_N, MAX_M), dtype=np.float64)
    for s in range(4):
        for j in range(4):
            A = np.zeros((T, C, TILE_N, MMA_K))
            for r in range(4):
                lo, hi = lanes_to_float(pairs[16 * s + 4 * j + r], bf16)
                for h, val in enumerate((lo, hi)):
                    A[:, :, g + 8 * (r & 1), 2 * t + 8 * (r >> 1) + h] = val
            B = np.zeros((C, MMA_K, MAX_M))
            for i in range(2):
                for h in range(2):
                    o = (16 * t + 4 * j if spec.wide else 16 * j + 4 * t) + 2 * i + h
                    kk = cidx[:, None] * CHUNK_K + STEP_K * s + o[None, :]  # (C, 32)
                    B[:, 2 * t + 8 * i + h, g] = xpad[xcol[None, :], kk]
            Cm = np.einsum("tcrk,ckn->tcrn", A, B)
            grp = mma_group(spec, cidx, s, j)
            sc = s_rows[:, grp, :]  # (T, C, 16)
            cx = B.sum(axis=1)  # (C, 8): ones-MMA
            if plan.subnormal:
                # A holds u * 2^(T-24); W = scale * (alpha * u + beta - zero)
                u_sum = Cm * 2.0 ** (24 - plan.tile_shift[4 * s + j])
                off = info.beta - z_rows[:, grp, :]
                contrib = sc[..., None] * info.alpha * u_sum + (sc * off)[..., None] * cx[None, :, None, :]
            else:
                contrib = sc[..., None] * Cm
                if info.affine:
                    contrib = contrib - (sc * z_rows[:, grp, :])[..., None] * cx[None, :, None, :]
            y += contrib.sum(axis=1)
    out = y.transpose(2, 0, 1).reshape(MAX_M, spec.n_pad)[:M, : spec.n]
    if spec.bias:
        out = out + arrays["bias"][None, :].astype(np.float64)
    return out


def decoded_weight(spec: GemvSpec, arrays) -> np.ndarray:
    """The (N, K) float64 weight the device arrays encode (via the simulator's
    decode; used by tests and by the GPU check as an independent view)."""
    ys = []
    for k0 in range(0, spec.k, MAX_M):
        m = min(MAX_M, spec.k - k0)
        eye = np.zeros((m, spec.k))
        eye[np.arange(m), k0 + np.arange(m)] = 1.0
        ys.append(simulate(spec, arrays, eye))
    w = np.concatenate(ys, axis=0).T
    if spec.bias:
        w = w - arrays["bias"][:, None]
    return w
