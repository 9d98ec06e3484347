"""Register-level decoding of packed low-bit codes into fp16 pairs.

A thread holds, per 256-wide chunk, ``4*bits`` 32-bit words (``bits``
16-byte loads) carrying 128 codes = 64 *pairs*. A pair is two codes of the
same weight row at adjacent k; it becomes one ``f16x2`` register of an MMA A
fragment. Which bit of which word carries which code bit is the compiler's
choice (the *device layout*); it is chosen here so that decoding is a few
shift / and-or (LOP3) / permute instructions and one half2 FMA per pair.

Decoders by format kind (all exact: every decoded value is an fp16 number):

* ``int`` with zero points (uint, bipolar) and fp16 activations:
  the code's field u is masked into bit T of each 16-bit lane and nothing
  else - the lane is the fp16 *subnormal* ``u * 2^(T-24)``, one AND per
  pair. The layout gives the four pairs of an A tile one T, so the kernel
  rescales its running MMA sum by a power of two where T changes between
  tiles (``R = R * 2^(T'-T)``) and once per group; ``alpha*u + beta``
  (and zero points) become ``scale*alpha*2^(24-T)*R + scale*(beta-zero)*X``
  with X = sum(x) from a ones-MMA (the H100's tensor cores accept fp16
  subnormal operands; measured errors on fp32 outputs <= 6.5e-6).
* other ``int`` (symmetric int via offset binary - the subnormal form would
  need a ones-MMA per tile there, measured slower; any int with bf16
  activations, whose subnormal products would underflow fp32): the field is
  OR-ed into the mantissa of the fp16 magic 1024, ``h = 1024 + u * 2^T``;
  one ``fma.rn.f16x2`` gives ``alpha*u + beta``.
* ``float`` (eXmY, e <= 5): exponent+mantissa bits land at fp16 bits
  [10-m, 10+e) and the sign at bit 15; one ``mul.f16x2`` by 2^(15-bias)
  rebiases the exponent (fp16 subnormals carry the minifloat subnormals).
* ``razer``: four codes per pair of byte permutes. The offline layout
  stores each code rotated right by one bit (``(c >> 1) | (c & 1) << 3``),
  so a nibble is (flag, index) with index 0..3 the positive codes, 4..7 the
  negative ones (the special value at index 4, flag 0) and the flag telling
  the two codes that share an index apart. ``pos = prmt(P, S)`` reads table P
  for flag-0 nibbles (a flag-1 nibble replicates P's sign bit: 0x00 or
  0xFF); ``neg = prmt(Q, S ^ 0x8888)`` reads table Q for flag-1 nibbles.
  ``pos ^ neg`` is the fp16 high byte of every code (Q holds the complements
  of the negative flag-1 values, so the 0xFF of a negative P entry cancels).
  Bytes 1 and 3 of that word are one pair (masked with 0xFF00FF00), bytes 0
  and 2 the next (moved up by a third ``prmt``). One LOP3 per word flips the
  flags; the high half-word is moved down by ``mul.hi`` (FMA pipe). Per four
  codes: three ``prmt``, two LOP3 - and one MMA per A tile. The layout makes
  every group's special value negative (groups with SV > 0 get their scale
  and code signs negated), so the SV is always P's entry 4: one byte of P per
  row and group, picked from the 2-bit selector by a ``prmt``.

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

# RaZeR permute tables (fp16 high bytes; every decoded value has a zero low
# byte). Stored nibble = (flag, index), the canonical code rotated right by 1.
RAZER_P_LO = 0x44403C00  # flag 0, index 0..3: 0, 1, 2, 4
RAZER_P_HI_BASE = 0xC4C0BC00  # flag 0, index 4..7: SV (byte 4, per row and group), -1, -2, -4
RAZER_Q_LO = 0x46423E38  # flag 1, index 0..3: 0.5, 1.5, 3, 6
RAZER_Q_HI = 0x393D4147  # flag 1, index 4..7: complements of -0.5, -1.5, -3, -6
RAZER_SV_BYTES = 0xC8C5C8C5  # fp16 high bytes of -|SV| = (-5, -8, -5, -8), by selector
RAZER_SV_SEL_BASE = 0x7650  # prmt selector: byte 0 <- selector, bytes 1..3 <- P_HI_BASE bytes 1..3
RAZER_FLIP = 0x88888888  # flips every nibble's sign-replicate flag
RAZER_HIGH_BYTES = 0xFF00FF00  # bytes 1 and 3: the pair read from nibbles 1 and 3
RAZER_LOW_TO_HIGH = 0x2404  # prmt selector: bytes 0, 2 -> 1, 3; zeros elsewhere


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
    """Device layout + decode program of one format (see module docstring).

    ``subnormal``: int formats with zero points, fp16 activations: decode to
    fp16 subnormals ``u * 2^(T-24)`` (no magic number, no fma); :attr:`tile_shift`
    gives the T of each of the chunk's 16 A tiles.
    """

    def __init__(self, info: FormatInfo, subnormal: bool = False):
        if subnormal and not (info.kind == "int" and info.affine):
            raise AssertionError(f"{info.name}: only int formats with zero points decode to subnormals")
        self.info = info
        self.bits = info.bits
        self.nwords = 4 * info.bits
        self.subnormal = subnormal
        self.pair_target: list[int] = [0] * PAIRS  # int kind: lane bit of the code's bit 0
        if info.kind == "razer":
            self.pieces = self._plan_razer()
        elif subnormal:
            self.pieces = self._plan_subnormal()
        else:
            self.pieces = self._plan_lanes()
        self._check()
        self.tile_shift: list[int] = [self.pair_target[4 * t] for t in range(PAIRS // 4)]
        if subnormal and any(self.pair_target[p] != self.tile_shift[p // 4] for p in range(PAIRS)):
            raise AssertionError(f"{info.name}: an A tile mixes mantissa positions")

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
        spill = [(p, [(src, width, min_t if flexible else target) for src, width, target in fields])
                 for p in range(n_regular, PAIRS)]
        pieces += self._cut_into_leftovers(spill, left)
        if flexible:
            for p in range(n_regular, PAIRS):
                self.pair_target[p] = min_t
        return pieces

    def _cut_into_leftovers(self, spill, left: int) -> list[Piece]:
        """Pieces of the spill codes: ``spill`` lists (pair, [(src, width, T)]),
        each field cut into the words' ``left`` leftover lane bits in order
        (word 0's, then word 1's, ...), its bits decoding at T, T+1, ..."""
        pieces = []
        segs = [(q, LANE_BITS - left) for q in range(self.nwords)] if left else []
        si, used = 0, 0
        for p, fields in spill:
            for src, width, t0 in fields:
                done = 0
                while done < width:
                    q, base = segs[si]
                    take = min(width - done, left - used)
                    pieces.append(Piece(p, src + done, take, q, base + used, base + used + 16, t0 + done))
                    done += take
                    used += take
                    if used == left:
                        si, used = si + 1, 0
        return pieces

    def _plan_subnormal(self) -> list[Piece]:
        """Every code in place at lane bit T = pos, or at T = pos - s after the
        word's one shift s; each A tile takes four codes of one position from
        four consecutive words (so one T per tile). Tiles run through the words
        four at a time - a word dies once its four tiles are done, which keeps
        registers low - ordered by T, rising in even blocks of words and falling
        in odd ones, so consecutive tiles mostly share T (few rescales)."""
        b = self.bits
        cap = LANE_BITS // b
        left = LANE_BITS - cap * b
        shift = -(-cap // 2) * b  # the upper half of the lane's codes move down by this
        slots = []  # (T, shift, pos) of the lane's regular codes
        for i in range(cap):
            pos = i * b
            s_ = 0 if pos < shift else shift
            if pos - s_ + b > 10:
                raise AssertionError(f"{self.info.name}: no subnormal position for lane bit {pos}")
            slots.append((pos - s_, s_, pos))
        order = []  # (T, word, pos) of the regular codes, in pair order
        for blk in range(self.nwords // 4):
            per_pos = sorted(slots, reverse=bool(blk % 2))
            for (t, _, pos) in per_pos:
                order += [(t, 4 * blk + i, pos) for i in range(4)]
        n_regular = len(order)
        pieces = [Piece(p, 0, b, q, pos, pos + 16, t) for p, (t, q, pos) in enumerate(order)]
        # spill codes (bits cut into the leftovers) decode at T = 0
        pieces += self._cut_into_leftovers([(p, [(0, b, 0)]) for p in range(n_regular, PAIRS)], left)
        for p in range(PAIRS):
            self.pair_target[p] = order[p][0] if p < n_regular else 0
        return pieces

    def _plan_razer(self) -> list[Piece]:
        # word q holds the four pairs of A tile q: the row-g pairs (r = 0, 2) in
        # the low half-word, the row g+8 pairs (r = 1, 3) in the high one, so a
        # half-word's codes share one row's table. Within a half-word the pair
        # at nibbles (1, 3) is read in place, the one at (0, 2) moved up.
        nib = {0: (1, 3), 2: (0, 2), 1: (5, 7), 3: (4, 6)}
        pieces = []
        for p in range(PAIRS):
            lo, hi = nib[p % 4]
            pieces.append(Piece(p, 0, 4, p // 4, 4 * lo, 4 * hi, 0))
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

    def store_codes(self, codes: np.ndarray) -> np.ndarray:
        """Canonical codes -> the nibbles the device layout stores (RaZeR:
        rotated right by one bit, see the module docstring; others: as is)."""
        c = np.asarray(codes, dtype=np.uint8)
        if self.info.kind != "razer":
            return c
        return ((c >> 1) | ((c & 1) << 3)).astype(np.uint8)

    def decode(self, be, words, row_table=None, bf16: bool = False) -> list:
        """The 64 pair registers of a chunk (fp16x2 bits; bf16x2 when ``bf16``).

        ``words``: the thread's 4*bits words; ``row_table(p)``: razer only,
        the table word holding pair p's row and group special value (see
        :func:`razer_row_table`).
        """
        pair = self.decoder(be, words, row_table)
        out = [pair(p) for p in range(PAIRS)]
        return [be.f16x2_to_bf16x2(v) for v in out] if bf16 else out

    def decoder(self, be, words, row_table=None, bf16: bool = False):
        """``pair(p)`` -> pair p's register, its operations emitted on first
        request (with whatever it shares with later pairs: a shifted word, a
        RaZeR word's other pairs). Asking for the pairs in order emits exactly
        what :meth:`decode` emits; asking for them MMA by MMA lets a kernel
        interleave decoding with the MMAs and with the loads of the next chunk."""
        done: dict[int, object] = {}
        if self.info.kind == "razer":
            def emit(p):
                done.update(self._decode_razer_word(be, words, row_table, p // 4))
        else:
            emit = self._lanes_decoder(be, words, done)

        def pair(p):
            if p not in done:
                emit(p)
            v = done[p]
            if bf16:
                key = ("bf16", p)
                if key not in done:
                    done[key] = be.f16x2_to_bf16x2(v)
                v = done[key]
            return v
        return pair

    def _lanes_decoder(self, be, words, done):
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

        def emit(p):
            acc = None
            for pc in by_pair[p]:
                mask = ((1 << pc.width) - 1) << pc.target
                v = be.andc(shift(pc.word, pc.pos_lo - pc.target), mask | (mask << 16))
                acc = v if acc is None else be.or_(acc, v)
            if self.subnormal:
                done[p] = acc
            elif self.info.kind == "int":
                acc = be.orc(acc, FP16_MAGIC | (FP16_MAGIC << 16))
                a, b = self.int_constants(self.pair_target[p])
                done[p] = be.hfma2c(acc, a, b)
            else:
                f = self.float_scale
                done[p] = acc if f is None else be.hmul2c(acc, half2(f))
        return emit

    def _decode_razer_word(self, be, words, row_table, q) -> dict:
        """The four pairs of word q (= A tile q)."""
        p_lo, q_lo, q_hi = be.const(RAZER_P_LO), be.const(RAZER_Q_LO), be.const(RAZER_Q_HI)
        out = {}
        w = words[q]
        flipped = be.xorc(w, RAZER_FLIP)
        for half, (in_place, moved) in enumerate(((0, 2), (1, 3))):
            pa, pb = 4 * q + in_place, 4 * q + moved
            # prmt reads only the selector's low half-word; the high one is
            # moved down by multiply-high (FMA pipe: the integer pipe carries
            # the permutes and LOP3s)
            sel = w if half == 0 else be.shr_mulhi(w, 16)
            sel_f = flipped if half == 0 else be.shr_mulhi(flipped, 16)
            pos = be.prmt(p_lo, row_table(pa), sel)
            neg = be.prmt(q_lo, q_hi, sel_f)
            both = be.xor(pos, neg)
            out[pa] = be.andc(both, RAZER_HIGH_BYTES)
            out[pb] = be.prmt(both, be.zero(), be.imm(RAZER_LOW_TO_HIGH))
        return out

    def words_last_pair(self) -> dict[int, int]:
        """word -> the highest pair whose decode reads it."""
        last: dict[int, int] = {}
        for pc in self.pieces:
            last[pc.word] = max(last.get(pc.word, -1), pc.pair)
        return last


def razer_row_table(be, meta_word, shift):
    """Table word P[4..7] of one row and group: byte 0 is -|SV| chosen by the
    row's 2-bit selector (bits [shift, shift+2) of ``meta_word``), bytes 1..3
    the fixed -1, -2, -4. (A multiply-add on the selector's bit 0 would need
    no table registers, but ptxas then allocated 80 instead of 72 registers
    for the 4-warp kernel: one block per SM fewer.)"""
    sel = be.or_(be.andc(be.shr_dyn(meta_word, shift), 3), be.const(RAZER_SV_SEL_BASE))
    return be.prmt(be.const(RAZER_SV_BYTES), be.const(RAZER_P_HI_BASE), sel)


def razer_code_flip(codes: np.ndarray) -> np.ndarray:
    """The codes of a group whose value is negated: sign bit flipped except for
    +0 (0b0000) and the special-value code (0b1000), which stay (the special
    value itself is negated with the group)."""
    c = np.asarray(codes, dtype=np.uint8)
    return np.where((c & 7) != 0, c ^ 8, c).astype(np.uint8)


@functools.lru_cache(maxsize=None)
def plan_for(info: FormatInfo, subnormal: bool = False) -> DecodePlan:
    return DecodePlan(info, subnormal)


def plan_for_spec(spec) -> DecodePlan:
    """The decode plan of a kernel: int formats with zero points (uint,
    bipolar) decode to fp16 subnormals when the activations are fp16 - their
    kernel runs a ones-MMA for sum(x) anyway. Symmetric int formats keep the
    magic-number fma: for them the subnormal decode would need that extra
    MMA per A tile, and measured slower (int2 / int3, bench/notes_cuda.md)."""
    info = spec.info
    return plan_for(info, info.kind == "int" and info.affine and spec.act == "float16")


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

    def xor(self, a, b):
        return self._u(a) ^ self._u(b)

    def xorc(self, v, c):
        return self._u(v) ^ np.uint32(c)

    def zero(self):
        return np.uint32(0)

    def imm(self, c):
        return np.uint32(c)

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


def lanes_to_float(v, bf16: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) float64 values of half2 / bf16x2 registers."""
    v = np.asarray(v, dtype=np.uint32)
    if not bf16:
        return NumpyBackend._lanes(v)
    lo = ((v & np.uint32(0xFFFF)) << np.uint32(16)).view(np.float32).astype(np.float64)
    hi = (v & np.uint32(0xFFFF0000)).view(np.float32).astype(np.float64)
    return lo, hi
