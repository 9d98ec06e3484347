"""Vectorized group quantizers (numpy, float32 arithmetic).

The entry point is :func:`quantize_groups`, which takes a 2-D float32 array
whose rows are quantization groups and returns per-element codes plus
per-group scale / zero / RaZeR selector. Splitting a tensor into groups
(axis, group size, partial last group) is done by the caller
(:mod:`kvc.formats.core`).

Two schemes cover all families:

* symmetric (int, float, razer): value = s * v, v on the format's grid;
  s = max(xmax / vmax, xmin / vmin) over the grid's extremes (a term is
  dropped when its extreme is 0), times the clipping ratio.
* affine (uint, bipolar): value = s * (d - z), d the decoded code; the group's
  [min, max] (shrunk about its midpoint by the clipping ratio) maps onto
  [d_min, d_max]; z is a float in code units.

For every candidate (clipping ratio x RaZeR selector) the scale (and zero) is
first rounded to ``scale_dtype``, then the codes are chosen against the
rounded values, so dequantization reproduces exactly what was optimized.
The candidate with the least squared error wins; on exact ties the earlier
candidate is kept (ratio 1.0 comes first, selectors in order 0..3), so
``method="mse"`` can never be worse than ``"rtn"`` and RaZeR ties go to the
lowest selector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK_ELEMS = 1 << 17  # elements per chunk of groups (keeps temporaries in cache)
MSE_RATIOS = tuple(float(r) for r in np.linspace(1.0, 0.5, 21))


@dataclass(frozen=True)
class Grid:
    """Sorted finite values of a table, for round-to-nearest with pinned ties.

    ``mids`` are the midpoints between neighbours, nudged down by one float32
    ulp where an exact tie must go to the upper neighbour, so a single
    ``searchsorted(mids, y, side='left')`` implements the tie rule.
    """

    values: np.ndarray  # float32, ascending
    codes: np.ndarray  # uint8, code of each value
    mids: np.ndarray  # float32, len(values) - 1
    vmax: float
    vmin: float


def make_grid(table: np.ndarray, sv_code: int | None = None) -> Grid:
    """Reference nearest-value grid of a table (used by tests and as fallback).

    Tie rule between neighbours a < b (the pinned rule, docs/formats.md):
    1. never the special value (RaZeR) when the other one is not;
    2. else the one whose magnitude is an even multiple of the gap b - a.
    For integers that is round-half-to-even; for floats with >= 1 mantissa
    bit it is IEEE round-half-to-even (even mantissa); with 0 mantissa bits a
    tie between 2^E and 2^(E+1) goes up and a tie between 0 and the smallest
    nonzero value goes to 0. Zero is always encoded as code 0 (+0).
    """
    table = np.asarray(table, dtype=np.float64)
    best: dict[float, int] = {}
    for code, v in enumerate(table):
        if not np.isfinite(v):
            continue
        key = float(v) + 0.0  # merge -0 into 0
        if key not in best or (key == 0.0 and code == 0):
            best[key] = code
    vals = np.array(sorted(best), dtype=np.float64)
    codes = np.array([best[v] for v in vals], dtype=np.int64)
    mids = ((vals[:-1] + vals[1:]) / 2).astype(np.float32)
    if not np.array_equal(mids.astype(np.float64), (vals[:-1] + vals[1:]) / 2):
        raise AssertionError("grid midpoints not exact in float32")
    for i in range(len(mids)):
        a_sv = sv_code is not None and codes[i] == sv_code
        b_sv = sv_code is not None and codes[i + 1] == sv_code
        if a_sv != b_sv:
            up = a_sv
        else:
            gap = vals[i + 1] - vals[i]
            up = round(abs(vals[i + 1]) / gap) % 2 == 0
        if up:
            mids[i] = np.nextafter(mids[i], np.float32(-np.inf))
    return Grid(vals.astype(np.float32), codes.astype(np.uint8), mids, float(vals[-1]), float(vals[0]))


def grid_nearest(g: Grid, y: np.ndarray):
    """(values, codes) of the nearest grid entry to each float32 y (reference path)."""
    idx = np.searchsorted(g.mids, np.asarray(y, dtype=np.float32), side="left")
    return g.values[idx], g.codes[idx]


@dataclass(frozen=True)
class FloatSpec:
    """Arithmetic round-to-nearest for an eXmY magnitude (fast path)."""

    exp_bits: int
    man_bits: int
    vmax: float  # largest finite value

    @property
    def emin(self) -> int:  # unbiased exponent of the smallest normal binade
        return 2 - (1 << (self.exp_bits - 1))


def float_round_mag(u: np.ndarray, fs: FloatSpec):
    """Round magnitudes u >= 0 (float32) to the eXmY grid, clamped to vmax.

    Returns (r float32 grid value, magnitude code int32 = [exponent|mantissa]).
    Works in the quantum q of u's binade (clamped to the subnormal binade):
    n = rint(u / q) (half to even), r = n * q, code = (E - emin) * 2^m + n,
    which also handles the carry into the next binade. Matches make_grid's
    tie rule exactly.
    """
    m = fs.man_bits
    u = np.minimum(u, np.float32(fs.vmax))
    eb = u.view(np.int32) >> 23
    np.maximum(eb, fs.emin + 127, out=eb)
    eq = eb - m  # biased exponent of the quantum
    q = (eq << 23).view(np.float32)
    inv = ((254 - eq) << 23).view(np.float32)
    n = np.rint(u * inv)
    r = n * q
    code = ((eb - (fs.emin + 127)) << m) + n.astype(np.int32)
    return r, code


_E2M1_SPEC = FloatSpec(2, 1, 6.0)
RAZER_SV_CODE_ = 0b1000


@dataclass(frozen=True)
class Scheme:
    """How one format quantizes (built once per format, see core.py)."""

    kind: str  # "uniform_sym" (int), "float_sym" (float), "razer", "affine" (uint, bipolar)
    bits: int
    fspec: FloatSpec | None = None  # float_sym
    special_values: tuple = ()  # razer: SV per selector
    qmin: int = 0  # uniform_sym: integer code range
    qmax: int = 0
    dec_a: float = 1.0  # affine: decoded value d = dec_a * c + dec_b, c in [0, 2^b - 1]
    dec_b: float = 0.0
    pow2_scale_floor: bool = False  # float: lift scales below the dtype's normal range by 2^k

    def extremes(self, sel: int = 0) -> tuple[float, float]:
        """(vmax, vmin) of the value grid used by selector ``sel``."""
        if self.kind == "uniform_sym":
            return float(self.qmax), float(self.qmin)
        if self.kind == "float_sym":
            return self.fspec.vmax, -self.fspec.vmax
        sv = self.special_values[sel]
        return max(6.0, sv), min(-6.0, sv)

    @property
    def n_selectors(self) -> int:
        return len(self.special_values) if self.kind == "razer" else 1


def round_scale(s: np.ndarray, dtype, pow2_floor: bool) -> np.ndarray:
    """Round positive float scales to ``dtype``.

    Non-positive / non-finite scales (all-zero groups) become 1. Scales above
    the dtype's max are clipped to it. With ``pow2_floor`` (float formats,
    whose grids are invariant under powers of two over most of their range), a
    scale below the dtype's smallest normal is multiplied by the smallest
    power of two that lifts it there, so it keeps full precision. A scale
    that still underflows to 0 becomes 1 (the group then quantizes to ~0).
    """
    fi = np.finfo(dtype)
    s = np.asarray(s, dtype=np.float64)
    s = np.where(np.isfinite(s) & (s > 0), s, 1.0)
    if pow2_floor:
        tiny = float(fi.tiny)
        low = s < tiny
        if np.any(low):
            k = np.ceil(np.log2(tiny / np.where(low, s, tiny)))
            s = np.where(low, np.ldexp(s, k.astype(np.int64)), s)
            s = np.where(s < tiny, s * 2.0, s)  # guard log2 rounding
    s = np.minimum(s, float(fi.max))
    q = s.astype(dtype)
    return np.where(q == 0, np.asarray(1, dtype=dtype), q)


def _round_zero(z: np.ndarray, dtype) -> np.ndarray:
    fi = np.finfo(dtype)
    return np.clip(z, -float(fi.max), float(fi.max)).astype(dtype)


def _sym_candidate(sch: Scheme, X, xmax, xmin, ratio, sel, scale_dtype, need_err):
    vmax, vmin = sch.extremes(sel)
    s = np.zeros_like(xmax)
    if vmax > 0:
        s = np.maximum(s, xmax / np.float32(vmax))
    if vmin < 0:
        s = np.maximum(s, xmin / np.float32(vmin))
    s = s * np.float32(ratio)
    sq = round_scale(s, scale_dtype, sch.pow2_scale_floor)
    sf = sq.astype(np.float32)[:, None]
    y = X / sf
    sse = None
    if sch.kind == "uniform_sym":
        v = np.clip(np.rint(y), sch.qmin, sch.qmax)
        codes = (v.astype(np.int16) & ((1 << sch.bits) - 1)).astype(np.uint8)
        if need_err:
            d = X - sf * v
            sse = np.einsum("ij,ij->i", d, d)
        return codes, sq, None, sse
    neg = y < 0
    u = np.abs(y)
    if sch.kind == "float_sym":
        r, cm = float_round_mag(u, sch.fspec)
        sign = (neg & (cm != 0)).astype(np.int32) << (sch.bits - 1)
        codes = (cm | sign).astype(np.uint8)
    else:  # razer: nearest E2M1 value, replaced by the SV only when strictly nearer
        r, cm = float_round_mag(u, _E2M1_SPEC)
        sv = sch.special_values[sel]
        svm = np.float32(abs(sv))
        on_side = neg if sv < 0 else ~neg
        use_sv = on_side & (np.abs(u - svm) < np.abs(u - r))
        r = np.where(use_sv, svm, r)
        sign = (neg & (cm != 0)).astype(np.int32) << 3
        codes = np.where(use_sv, RAZER_SV_CODE_, cm | sign).astype(np.uint8)
    if need_err:
        d = np.abs(X) - sf * r
        sse = np.einsum("ij,ij->i", d, d)
    return codes, sq, None, sse


def _affine_candidate(sch: Scheme, X, xmax, xmin, ratio, scale_dtype, need_err):
    qmax = (1 << sch.bits) - 1
    a, b = np.float32(sch.dec_a), np.float32(sch.dec_b)
    dmin, dmax = float(sch.dec_b), float(sch.dec_a * qmax + sch.dec_b)
    c = (xmax + xmin) * np.float32(0.5)
    h = (xmax - xmin) * np.float32(0.5 * ratio)
    lo = c - h
    amax = np.maximum(np.abs(xmax), np.abs(xmin))
    s = (2 * h) / np.float32(dmax - dmin)
    # keep |zero| within the scale dtype's range (near-constant groups)
    s = np.maximum(s, amax / np.float32(0.5 * float(np.finfo(scale_dtype).max)))
    sq = round_scale(s, scale_dtype, False)
    sf = sq.astype(np.float32)
    zq = _round_zero(np.float32(dmin) - lo / sf, scale_dtype)
    zf = zq.astype(np.float32)[:, None]
    sf = sf[:, None]
    t = X / sf + zf
    cc = np.clip(np.rint((t - b) / a), 0, qmax)
    codes = cc.astype(np.uint8)
    sse = None
    if need_err:
        d = X - sf * ((a * cc + b) - zf)
        sse = np.einsum("ij,ij->i", d, d)
    return codes, sq, zq, sse


def _candidates(sch: Scheme, method: str):
    if method == "rtn":
        ratios = (1.0,)
    elif method == "mse":
        ratios = MSE_RATIOS
    else:
        raise ValueError(f"unknown method {method!r}; expected 'rtn' or 'mse'")
    return [(r, sel) for r in ratios for sel in range(sch.n_selectors)]


def _quantize_chunk(sch: Scheme, X: np.ndarray, method: str, scale_dtype):
    xmax = X.max(axis=1)
    xmin = X.min(axis=1)
    cands = _candidates(sch, method)
    need_err = len(cands) > 1
    best = None
    for r, gi in cands:
        if sch.kind == "affine":
            codes, sq, zq, sse = _affine_candidate(sch, X, xmax, xmin, r, scale_dtype, need_err)
        else:
            codes, sq, zq, sse = _sym_candidate(sch, X, xmax, xmin, r, gi, scale_dtype, need_err)
        meta = np.full(X.shape[0], gi, dtype=np.uint8)
        if best is None:
            best = [codes, sq, zq, meta, sse]
            continue
        upd = sse < best[4]
        if not upd.any():
            continue
        np.copyto(best[0], codes, where=upd[:, None])
        np.copyto(best[1], sq, where=upd)
        if zq is not None:
            np.copyto(best[2], zq, where=upd)
        np.copyto(best[3], np.uint8(gi), where=upd)
        np.copyto(best[4], sse, where=upd)
    return best[0], best[1], best[2], best[3]


def quantize_groups(sch: Scheme, X: np.ndarray, method: str = "rtn", scale_dtype=np.float16):
    """Quantize each row of ``X`` (float32, shape (M, g)) as one group.

    Returns ``(codes (M, g) uint8, scales (M,), zeros (M,) or None,
    meta (M,) uint8)``; meta is the RaZeR selector (all 0 for other formats).
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    m, g = X.shape
    codes = np.empty((m, g), dtype=np.uint8)
    scales = np.empty(m, dtype=scale_dtype)
    zeros = np.empty(m, dtype=scale_dtype) if sch.kind == "affine" else None
    meta = np.empty(m, dtype=np.uint8)
    if m == 0 or g == 0:
        return codes, scales, zeros, meta
    step = max(1, CHUNK_ELEMS // g)
    for r0 in range(0, m, step):
        r1 = min(m, r0 + step)
        c, s, z, mt = _quantize_chunk(sch, X[r0:r1], method, scale_dtype)
        codes[r0:r1] = c
        scales[r0:r1] = s
        if zeros is not None:
            zeros[r0:r1] = z
        meta[r0:r1] = mt
    return codes, scales, zeros, meta
