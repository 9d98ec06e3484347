"""Register-level decoding of packed low-bit codes into fp16 pairs.

A thread holds, per 256-wide chunk, ``4*bits`` 32-bit words (``bits``
16-byte loads) carrying 128 codes = 64 *pairs*. A pair is two codes of the
same weight row at adjacent k; it becomes one ``f16x2`` register of an MMA A
fragment. Which bit of which word carries which code bit is the compiler's
choice (the *device layout*); it is chosen here so that decoding is a few
shift / and-or (LOP3) / permute instructions and one half2 FMA per pair.

Decoders by format kind (all exact: every decoded value is an fp16 number):

* ``int`` (int via offset binary, uint, bipolar): the code's field u is
  OR-ed into the mantissa of the fp16 magic 1024 at bit T of each 16-bit lane,
  ``h = 1024 + u * 2^T``; one ``fma.rn.f16x2`` gives ``alpha*u + beta``.
* ``float`` (eXmY, e <= 5): exponent+mantissa bits land at fp16 bits
  [10-m, 10+e) and the sign at bit 15; one ``mul.f16x2`` by 2^(15-bias)
  rebiases the exponent (fp16 subnormals carry the minifloat subnormals).
* ``razer``: the pair becomes *two* registers, a positive and a negative
  part, each one byte permute (``prmt``) into an 8-entry table of fp16 high
  bytes (magnitudes). The code's sign bit is the permute's sign-replicate
  flag: in the positive permute a negative code replicates the (clear) sign
  of a magnitude byte and reads 0, and the negative permute sees every flag
  flipped (selector + 0x8888, an integer multiply-add that runs on the FMA
  pipe). The kernel feeds both to the tensor cores and subtracts the two
  sums. The offline layout makes every group's special value negative
  (groups with SV > 0 get their scale and code signs negated), so code
  0b1000 reads |SV| from entry 0 of the negative table. Per pair: one LOP3,
  two PRMT on the integer pipe; everything else on the FMA / tensor pipes
  (the old 16-entry select decoder needed six integer-pipe instructions and
  saturated that pipe, bench/notes_cuda.md).

Each decoder is written once against a tiny backend interface; the numpy
backend (:class:`NumpyBackend`) evaluates it bit-exactly on the CPU (tests,
simulator) and the MLIR backend (in :mod:`gemv`) emits the same operations
as arith / llvm / nvvm ops.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .spec import PAIRS, FormatInfo

FP16_MAGIC = 0x6400  # 1024.0: mantissa bits [0, 10) hold an integer exactly
LANE_BITS = 16

# RaZeR permute tables: fp16 high bytes of E2M1 magnitudes (low bytes are 0).
RAZER_TP_LO = 0x3E3C3800  # index 0..3: 0, 0.5, 1, 1.5 (positive codes 0..3)
RAZER_T_HI = 0x46444240  # index 4..7: 2, 3, 4, 6 (both signs)
RAZER_TN_BASE = 0x3E3C3800  # negative codes 8..11: |SV| (byte 0, per group), 0.5, 1, 1.5
RAZER_SV_MAG_BYTES = 0x48454845  # fp16 high bytes of |SV| = (5, 8, 5, 8), by selector
RAZER_SEL_BASE = 0x7650  # prmt selector: byte0 <- selector, bytes 1..3 <- TN_BASE bytes 1..3
RAZER_SEL_MASK = 0xF0F0  # the pair's codes sit in nibbles 1 and 3; nibbles 0 and 2 select byte 0
RAZER_FLIP = 0x8888  # added to a masked selector: flips every nibble's sign-replicate flag


def f16_bits(v: float) -> int:
    b = int(np.array(v, dtype=np.float16).view(np.uint16))
    if float(np.array(b, dtype=np.uint16).view(np.float16)) != v:
        raise AssertionError(f"{v} is not an fp16 number")
    return b


def half2(v: float) -> int:
    b = f16_bits(v)
    return b | (b << 16)


@dataclass(frozen=True)
class Piece:
    """Bits [src, src+width) of both codes of ``pair`` stored in ``word``.

    The lo code's bits start at ``pos_lo``, the hi code's at ``pos_hi``;
    decoding moves them to lane bit ``target`` (lo lane; hi lane +16).
    """

    pair: int
    src: int
    width: int
    word: int
    pos_lo: int
    pos_hi: int
    target: int


class DecodePlan:
    """Device layout + decode program of one format (see module docstring)."""

    def __init__(self, info: FormatInfo):
        self.info = info
        self.bits = info.bits
        self.nwords = 4 * info.bits
        self.pair_target: list[int] = [0] * PAIRS  # int kind: lane bit of the code's bit 0
        if info.kind == "razer":
            self.pieces = self._plan_razer()
        else:
            self.pieces = self._plan_lanes()
        self._check()

    # -------------------------------------------------------------- layouts
    def _code_fields(self):
        """(src, width, target or None) fields of one code."""
        i = self.info
        if i.kind == "int":
            return [(0, i.bits, None)]
        e, m = i.exp_bits, i.man_bits
        return [(0, e + m, 10 - m), (e + m, 1, 15)]

    def _plan_lanes(self) -> list[Piece]:
        b = self.bits
        cap = LANE_BITS // b  # whole codes per 16-bit lane
        left = LANE_BITS - cap * b  # leftover bits per word, pooled for spill codes
        n_regular = self.nwords * cap
        fields = self._code_fields()
        pieces: list[Piece] = []
        flexible = self.info.kind == "int"
        # int: the field must stay inside the fp16 mantissa, and the fma
        # constants for that position must be fp16 numbers
        ok_t = [t for t in range(0, 11 - b) if self._int_ok(t)] if flexible else [0]
        if not ok_t:
            raise AssertionError(f"no fp16 decode position for {self.info.name}")
        min_t = ok_t[0]
        pair = 0
        for q in range(self.nwords):
            members = list(range(pair, min(pair + cap, PAIRS)))
            pair += len(members)
            # type-grouped: first every member's field 0, then field 1 (sign), ...
            pos = 0
            shifts = [0]
            for src, width, target in fields:
                for p in members:
                    if flexible:
                        s = next((s for s in shifts if (pos - s) in ok_t), None)
                        if s is None:
                            s = pos - min_t
                            shifts.append(s)
                        t = pos - s
                        self.pair_target[p] = t
                    else:
                        t = target
                    pieces.append(Piece(p, src, width, q, pos, pos + 16, t))
                    pos += width
            assert pos == cap * b
        assert pair == n_regular or n_regular >= PAIRS
        # spill codes: their fields are cut into the leftover segments
        segs = [(q, LANE_BITS - left) for q in range(self.nwords)] if left else []
        si, used = 0, 0
        for p in range(n_regular, PAIRS):
            for src, width, target in fields:
                t0 = min_t if flexible else target
                done = 0
                while done < width:
                    q, base = segs[si]
                    take = min(width - done, left - used)
                    pieces.append(Piece(p, src + done, take, q, base + used, base + used + 16, t0 + done))
                    done += take
                    used += take
                    if used == left:
                        si, used = si + 1, 0
            if flexible:
                self.pair_target[p] = min_t
        return pieces

    def _plan_razer(self) -> list[Piece]:
        # word q holds pairs 4q..4q+3 as nibbles: slot 0 at nibbles (1, 3),
        # slot 1 at (0, 2), slot 2 at (5, 7), slot 3 at (4, 6).
        nib = ((1, 3), (0, 2), (5, 7), (4, 6))
        pieces = []
        for p in range(PAIRS):
            q, slot = divmod(p, 4)
            lo, hi = nib[slot]
            pieces.append(Piece(p, 0, 4, q, 4 * lo, 4 * hi, 0))
        return pieces

    def _check(self):
        used = {}
        for pc in self.pieces:
            for base in (pc.pos_lo, pc.pos_hi):
                for bit in range(base, base + pc.width):
                    key = (pc.word, bit)
                    if key in used or not (0 <= bit < 32) or not (0 <= pc.word < self.nwords):
                        raise AssertionError(f"bad layout for {self.info.name}: {key}")
                    used[key] = pc
        if len(used) != 32 * self.nwords:
            raise AssertionError(f"layout for {self.info.name} leaves bits unused")
        per_pair = {}
        for pc in self.pieces:
            per_pair.setdefault(pc.pair, 0)
            per_pair[pc.pair] += pc.width
        if sorted(per_pair) != list(range(PAIRS)) or any(w != self.bits for w in per_pair.values()):
            raise AssertionError(f"layout for {self.info.name} does not hold every code bit once")

    # ------------------------------------------------------------- programs
    def _int_ok(self, t: int) -> bool:
        try:
            self.int_constants(t)
            return True
        except AssertionError:
            return False

    def int_constants(self, t: int) -> tuple[int, int]:
        """half2 bit patterns (A, B) with fma(1024 + u*2^t, A, B) = alpha*u + beta."""
        a = self.info.alpha * 2.0 ** (-t)
        b = self.info.beta - self.info.alpha * 1024.0 * 2.0 ** (-t)
        return half2(a), half2(b)

    @property
    def float_scale(self) -> float | None:
        f = 2.0 ** (15 - self.info.bias)
        return None if f == 1.0 else f

    @property
    def split_sign(self) -> bool:
        """Each pair decodes to (positive part, negative part): two MMAs whose
        sums the kernel subtracts (razer)."""
        return self.info.kind == "razer"

    def decode(self, be, words, pair_param=None, bf16: bool = False) -> list:
        """The 64 pair registers of a chunk (fp16x2 bits; bf16x2 when ``bf16``);
        for :attr:`split_sign` formats, 64 (positive, negative) tuples whose
        lane-wise difference is the pair.

        ``words``: the thread's 4*bits words; ``pair_param(p)``: razer only,
        the negative table word of pair p's row and group (see :func:`razer_tn`).
        """
        if self.info.kind == "razer":
            out = self._decode_razer(be, words, pair_param)
            if bf16:
                out = [(be.f16x2_to_bf16x2(a), be.f16x2_to_bf16x2(b)) for a, b in out]
            return out
        out = self._decode_lanes(be, words)
        if bf16:
            out = [be.f16x2_to_bf16x2(v) for v in out]
        return out

    def _decode_lanes(self, be, words) -> list:
        shifted = {}

        def shift(q, s):
            key = (q, s)
            if key not in shifted:
                w = words[q]
                shifted[key] = w if s == 0 else (be.shr(w, s) if s > 0 else be.shl(w, -s))
            return shifted[key]

        by_pair: dict[int, list[Piece]] = {}
        for pc in self.pieces:
            by_pair.setdefault(pc.pair, []).append(pc)
        out = []
        for p in range(PAIRS):
            acc = None
            for pc in by_pair[p]:
                mask = ((1 << pc.width) - 1) << pc.target
                v = be.andc(shift(pc.word, pc.pos_lo - pc.target), mask | (mask << 16))
                acc = v if acc is None else be.or_(acc, v)
            if self.info.kind == "int":
                acc = be.orc(acc, FP16_MAGIC | (FP16_MAGIC << 16))
                a, b = self.int_constants(self.pair_target[p])
                out.append(be.hfma2c(acc, a, b))
            else:
                f = self.float_scale
                out.append(acc if f is None else be.hmul2c(acc, half2(f)))
        return out

    def _decode_razer(self, be, words, pair_param) -> list:
        tp_lo, t_hi = be.const(RAZER_TP_LO), be.const(RAZER_T_HI)
        out = []
        for p in range(PAIRS):
            q, slot = divmod(p, 4)
            w = words[q]
            # move the pair's nibbles to 1 and 3 (right shifts as multiply-high:
            # FMA pipe, the integer pipe is this decoder's bottleneck)
            if slot == 0:
                ws = w
            elif slot == 1:
                ws = be.shl(w, 4)
            else:
                ws = be.shr_mulhi(w, 16 if slot == 2 else 12)
            sel_pos = be.andc(ws, RAZER_SEL_MASK)
            sel_neg = be.add_fma(sel_pos, RAZER_FLIP)
            pos = be.prmt(tp_lo, t_hi, sel_pos)
            neg = be.prmt(pair_param(p), t_hi, sel_neg)
            out.append((pos, neg))
        return out


def razer_tn(be, meta_word, shift):
    """Negative table word of one row: |SV| chosen by the row's 2-bit selector
    (bits [shift, shift+2) of ``meta_word``) plus the fixed bytes of codes 9..11."""
    sel = be.or_(be.andc(be.shr_dyn(meta_word, shift), 3), be.const(RAZER_SEL_BASE))
    return be.prmt(be.const(RAZER_SV_MAG_BYTES), be.const(RAZER_TN_BASE), sel)


def razer_code_flip(codes: np.ndarray) -> np.ndarray:
    """The codes of a group whose value is negated: sign bit flipped except for
    +0 (0b0000) and the special-value code (0b1000), which stay (the special
    value itself is negated with the group)."""
    c = np.asarray(codes, dtype=np.uint8)
    return np.where((c & 7) != 0, c ^ 8, c).astype(np.uint8)


@functools.lru_cache(maxsize=None)
def plan_for(info: FormatInfo) -> DecodePlan:
    return DecodePlan(info)


# ----------------------------------------------------------------- numpy backend
class NumpyBackend:
    """Bit-exact CPU evaluation of decode programs on uint32 arrays."""

    def const(self, c):
        return np.uint32(c & 0xFFFFFFFF)

    def _u(self, v):
        return np.asarray(v, dtype=np.uint32)

    def shr(self, v, s):
        return self._u(v) >> np.uint32(s)

    def shl(self, v, s):
        return (self._u(v) << np.uint32(s)) & np.uint32(0xFFFFFFFF)

    def shr_dyn(self, v, s):
        return self._u(v) >> self._u(s)

    def andc(self, v, c):
        return self._u(v) & np.uint32(c)

    def or_(self, a, b):
        return self._u(a) | self._u(b)

    def orc(self, v, c):
        return self._u(v) | np.uint32(c)

    def shr_mulhi(self, v, s):
        return self._u(v) >> np.uint32(s)

    def add_fma(self, v, c):
        return ((self._u(v).astype(np.uint64) + np.uint64(c)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)

    def prmt(self, a, b, sel):
        a, b, sel = np.broadcast_arrays(self._u(a), self._u(b), self._u(sel))
        pool = np.stack([(a >> np.uint32(8 * i)) & np.uint32(0xFF) for i in range(4)]
                        + [(b >> np.uint32(8 * i)) & np.uint32(0xFF) for i in range(4)], axis=-1)
        out = np.zeros(a.shape, dtype=np.uint32)
        for i in range(4):
            nib = (sel >> np.uint32(4 * i)) & np.uint32(0xF)
            byte = np.take_along_axis(pool, (nib & np.uint32(7)).astype(np.int64)[..., None], axis=-1)[..., 0]
            rep = np.where(byte & np.uint32(0x80), np.uint32(0xFF), np.uint32(0))
            byte = np.where(nib & np.uint32(8), rep, byte)
            out |= byte << np.uint32(8 * i)
        return out

    @staticmethod
    def _lanes(v):
        v = np.asarray(v, dtype=np.uint32)
        lo = (v & np.uint32(0xFFFF)).astype(np.uint16).view(np.float16).astype(np.float64)
        hi = (v >> np.uint32(16)).astype(np.uint16).view(np.float16).astype(np.float64)
        return lo, hi

    @staticmethod
    def _pack(lo, hi):
        lo = np.asarray(lo, dtype=np.float16).view(np.uint16).astype(np.uint32)
        hi = np.asarray(hi, dtype=np.float16).view(np.uint16).astype(np.uint32)
        return lo | (hi << np.uint32(16))

    def hfma2c(self, v, a, b):
        lo, hi = self._lanes(v)
        (alo, ahi), (blo, bhi) = self._lanes(a), self._lanes(b)
        return self._pack(lo * alo + blo, hi * ahi + bhi)  # exact in float64, one rounding

    def hmul2c(self, v, a):
        lo, hi = self._lanes(v)
        alo, ahi = self._lanes(a)
        return self._pack(lo * alo, hi * ahi)

    def f16x2_to_bf16x2(self, v):
        lo, hi = self._lanes(v)
        out = []
        for part in (lo, hi):
            with np.errstate(invalid="ignore"):
                bits = part.astype(np.float32).view(np.uint32)
            if np.any((bits & np.uint32(0xFFFF)) & (np.isfinite(part))):
                raise AssertionError("fp16 value not exact in bf16")
            out.append(bits >> np.uint32(16))
        return out[0] | (out[1] << np.uint32(16))


def pair_to_float(v, bf16: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) float64 values of a decoded pair: one register, or the
    (positive, negative) registers of a split-sign decoder."""
    if isinstance(v, tuple):
        (plo, phi), (nlo, nhi) = lanes_to_float(v[0], bf16), lanes_to_float(v[1], bf16)
        return plo - nlo, phi - nhi
    return lanes_to_float(v, bf16)


def lanes_to_float(v, bf16: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) float64 values of half2 / bf16x2 registers."""
    v = np.asarray(v, dtype=np.uint32)
    if not bf16:
        return NumpyBackend._lanes(v)
    lo = ((v & np.uint32(0xFFFF)) << np.uint32(16)).view(np.float32).astype(np.float64)
    hi = (v & np.uint32(0xFFFF0000)).view(np.float32).astype(np.float64)
    return lo, hi
