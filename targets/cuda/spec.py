"""What a cuda GEMV kernel is specialized for, and how each format decodes.

Pure Python + numpy (no MLIR): the runtime and the GPU-side scripts import it.

A kernel computes ``y[m, n] = sum_k x[m, k] * W[n, k]`` for ``m < M <= 8``
(M is a launch argument), with W = dequant(codes, scales[, zeros][, meta])
as pinned by the lowbit contract::

    W[n, k] = scale[n, k // G] * (decode(code[n, k]) - zero[n, k // G])

Work decomposition (docs/targets/cuda.md has the picture):

* a *tile* is 16 output rows (the M dimension of one ``mma.m16n8k16``);
  one thread block per ``row_tiles`` tiles (1, or 2: the two tiles share
  every activation fragment, halving the x loads and loop work per weight
  byte), ``warps`` warps per block;
* K is cut into *chunks* of 256; a warp owns chunks ``w, w+W, ...``
  (split-K across the block's warps, reduced through shared memory);
* a chunk is 4 *steps* of 64 K, a step is 4 MMAs of k16; each thread
  holds 128 codes of a chunk = ``bits`` 16-byte loads.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass

TILE_N = 16  # rows per tile = MMA m
CHUNK_K = 256  # K per chunk (one unit of 16-byte loads: bits loads per thread)
STEP_K = 64  # K per step (4 MMAs)
MMA_K = 16
LANES = 32
PAIRS = 64  # half2 registers per thread per chunk (128 codes)
MAX_M = 8  # activation rows per launch (the MMA n dimension)

ACT_DTYPES = ("float16", "bfloat16")
OUT_DTYPES = ("float16", "bfloat16", "float32")


class CudaTargetError(ValueError):
    """A request the cuda target cannot compile (names the value that is out of range)."""


@dataclass(frozen=True)
class FormatInfo:
    """How one lowbit format is decoded on the GPU.

    kind: ``int`` (int / uint / bipolar: decode(u) = alpha*u + beta on the
    stored unsigned field u), ``float`` (sign | exponent | mantissa minifloat)
    or ``razer`` (E2M1 whose -0 code is the group's special value).
    ``xor`` is applied to every canonical code before packing (int: the sign
    bit, turning two's complement into offset binary so that decode is affine).
    """

    name: str
    family: str
    kind: str
    bits: int
    alpha: float = 1.0
    beta: float = 0.0
    xor: int = 0
    exp_bits: int = 0
    man_bits: int = 0
    affine: bool = False  # has per-group zero points (uint, bipolar)
    has_meta: bool = False  # per-group selector (razer)

    @property
    def bias(self) -> int:
        return (1 << (self.exp_bits - 1)) - 1 if self.kind == "float" else 0


def format_info(fmt) -> FormatInfo:
    """FormatInfo for a kvc.formats name or Format object (raises CudaTargetError)."""
    from kvc import formats

    f = formats.get(fmt)
    b = f.bits
    fam = f.family
    if fam == "int":
        if b < 2:
            raise CudaTargetError(f"cuda target: format {f.name!r}: int1 has no odd/even split to decode; use bipolar1 or uint1")
        return FormatInfo(f.name, fam, "int", b, 1.0, -float(1 << (b - 1)), xor=1 << (b - 1))
    if fam == "uint":
        return FormatInfo(f.name, fam, "int", b, 1.0, 0.0, affine=True)
    if fam == "bipolar":
        return FormatInfo(f.name, fam, "int", b, 2.0, -float((1 << b) - 1), affine=True)
    if fam == "float":
        e, m = f.exp_bits, f.man_bits
        if e > 5:
            raise CudaTargetError(
                f"cuda target: format {f.name!r} has a {e}-bit exponent; kernels decode into fp16, "
                "which holds minifloats with at most 5 exponent bits"
            )
        return FormatInfo(f.name, fam, "float", b, exp_bits=e, man_bits=m)
    if fam == "razer":
        return FormatInfo(f.name, fam, "razer", b, has_meta=True)
    raise CudaTargetError(f"cuda target: no GPU decoder for format family {fam!r}")


@dataclass(frozen=True)
class GemvSpec:
    """Everything one generated kernel is specialized for."""

    fmt: str  # base format name, e.g. "int4"
    n: int
    k: int
    group_size: int
    act: str = "float16"
    out: str = "float16"
    bias: bool = False
    warps: int = 0  # 0: choose (see choose_warps)
    arch: str = "sm_90"
    depth: int = 1  # chunks loaded ahead of the one being decoded (per warp)
    maxnreg: int = 0  # register cap per thread (0: the compiler's choice)
    l2_ahead: int = 0  # chunks (of this warp) prefetched into L2 beyond those in registers
    row_tiles: int = 1  # 16-row tiles per block (2: both tiles use each x fragment)
    # rolling reloads: the chunk ahead's code vectors are loaded one by one as the
    # current chunk's are used up (one chunk of codes in registers, not 1 + depth)
    rolling: bool = False
    # scales in lanes: a warp's scale (and zero) words all loaded in the prologue,
    # 32 per register, and shuffled out per chunk (short loops at group 128 only:
    # see lane_scales_fit)
    lane_scales: bool = False

    def __post_init__(self):
        if self.n < 1 or self.k < 1:
            raise CudaTargetError(f"cuda gemv: N and K must be >= 1, got N={self.n}, K={self.k}")
        if self.act not in ACT_DTYPES:
            raise CudaTargetError(f"cuda gemv: activation dtype {self.act!r} not in {ACT_DTYPES}")
        if self.out not in OUT_DTYPES:
            raise CudaTargetError(f"cuda gemv: output dtype {self.out!r} not in {OUT_DTYPES}")
        if self.arch not in ("sm_80", "sm_86", "sm_89", "sm_90"):
            raise CudaTargetError(f"cuda gemv: arch {self.arch!r} not supported (sm_80, sm_86, sm_89, sm_90)")
        g = self.group_size
        if g < 1:
            raise CudaTargetError(f"cuda gemv: group size must be >= 1, got {g}")
        if not self.single_group and not (CHUNK_K % g == 0 or g % CHUNK_K == 0):
            raise CudaTargetError(
                f"cuda gemv: group size {g} must divide {CHUNK_K} or be a multiple of it (or cover all of K={self.k})"
            )
        if not self.single_group and g % MMA_K:
            raise CudaTargetError(f"cuda gemv: group size {g} must be a multiple of {MMA_K}")
        if self.depth not in (1, 2, 3):
            raise CudaTargetError(f"cuda gemv: depth must be 1, 2 or 3, got {self.depth}")
        if not (0 <= self.l2_ahead <= 8):
            raise CudaTargetError(f"cuda gemv: l2_ahead must be in 0..8, got {self.l2_ahead}")
        if self.maxnreg and not (32 <= self.maxnreg <= 255):
            raise CudaTargetError(f"cuda gemv: maxnreg must be in 32..255, got {self.maxnreg}")
        if self.row_tiles not in (1, 2):
            raise CudaTargetError(f"cuda gemv: row_tiles must be 1 or 2, got {self.row_tiles}")
        if self.warps and not (1 <= self.warps <= 16):
            raise CudaTargetError(f"cuda gemv: warps must be in 1..16, got {self.warps}")
        format_info(self.fmt)  # validates the format
        if self.lane_scales and not lane_scales_fit(self.n, self.k, self.group_size, self.nwarps):
            raise CudaTargetError(
                f"cuda gemv: lane_scales needs group size {CHUNK_K // 2}, K >= {CHUNK_K} and at most "
                f"{LANE_SCALE_TRIPS} chunks per warp; got group {self.group_size}, K={self.k}, {self.nwarps} warps")

    # -- derived -----------------------------------------------------------
    @property
    def info(self) -> FormatInfo:
        return format_info(self.fmt)

    @property
    def bits(self) -> int:
        return self.info.bits

    @property
    def single_group(self) -> bool:
        return self.group_size >= self.k

    @property
    def wide(self) -> bool:
        """x fragment mapping: wide (16 contiguous halves per thread per step)
        needs every 64-wide step inside one group; narrow keeps each MMA's 16 k
        contiguous (groups of 16 / 32)."""
        return self.single_group or self.group_size % STEP_K == 0

    @property
    def tiles(self) -> int:
        return -(-self.n // TILE_N)

    @property
    def blocks(self) -> int:
        """Thread blocks of a launch (the grid): one per ``row_tiles`` tiles
        (the last block of an odd tile count re-reads its last tile and
        stores only the rows below N)."""
        return -(-self.tiles // self.row_tiles)

    @property
    def n_pad(self) -> int:
        return self.tiles * TILE_N

    @property
    def chunks(self) -> int:
        return -(-self.k // CHUNK_K)

    @property
    def k_pad(self) -> int:
        return self.chunks * CHUNK_K

    @property
    def full_chunks(self) -> int:
        return self.k // CHUNK_K

    @property
    def groups(self) -> int:
        """Groups of the canonical quantized tensor (last one may be partial)."""
        return 1 if self.single_group else -(-self.k // self.group_size)

    @property
    def eff_group(self) -> int:
        return self.k_pad if self.single_group else self.group_size

    @property
    def dev_groups(self) -> int:
        """Group records on the device (covers the padded K)."""
        return -(-self.k_pad // self.eff_group)

    @property
    def xvec(self) -> int:
        """Halves per x load: the largest of 8/4/2/1 dividing K (rows stay aligned)."""
        cap = 8 if self.wide else 4
        for v in (8, 4, 2, 1):
            if v <= cap and self.k % v == 0:
                return v
        return 1

    @property
    def nwarps(self) -> int:
        return self.warps or choose_warps(self.n, self.k, self.fmt)

    @property
    def threads(self) -> int:
        return self.nwarps * LANES

    @property
    def name(self) -> str:
        """Kernel symbol: readable and unique per specialization."""
        act = {"float16": "f16", "bfloat16": "bf16"}[self.act]
        out = {"float16": "f16", "bfloat16": "bf16", "float32": "f32"}[self.out]
        gs = "gall" if self.single_group else f"g{self.group_size}"
        b = "_bias" if self.bias else ""
        tune = (f"_d{self.depth}p{self.l2_ahead}" + (f"_r{self.maxnreg}" if self.maxnreg else "")
                + (f"_t{self.row_tiles}" if self.row_tiles > 1 else "") + ("_roll" if self.rolling else "")
                + ("_lanes" if self.lane_scales else ""))
        return f"kvc_gemv_{self.fmt}_{gs}_n{self.n}_k{self.k}_{act}_{out}{b}_w{self.nwarps}{tune}_{self.arch}"

    def layout_key(self) -> tuple:
        """What fixes the device buffers and the numerics; the kernel variants
        of one linear (which differ only in :meth:`variant_settings`) agree on it."""
        return (self.fmt, self.n, self.k, self.group_size, self.act, self.out, self.bias, self.arch)

    def variant_settings(self) -> dict:
        """The fields a linear's kernel variants may differ in, by name (what
        ``linear.compile_quantized`` takes to fix a variant)."""
        return {"warps": self.warps, "depth": self.depth, "maxnreg": self.maxnreg, "row_tiles": self.row_tiles,
                "rolling": self.rolling, "lane_scales": self.lane_scales}

    @property
    def variant_tag(self) -> str:
        """Short name of the fields a linear's kernel variants differ in
        (artifact file stems; unique among the variants of one linear)."""
        return (f"w{self.nwarps}d{self.depth}p{self.l2_ahead}r{self.maxnreg}t{self.row_tiles}"
                + ("s" if self.rolling else "") + ("l" if self.lane_scales else ""))

    def key(self) -> str:
        """Stable hash of the specialization (cache and artifact file names)."""
        d = asdict(self)
        d["warps"] = self.nwarps
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def to_json(self) -> dict:
        d = asdict(self)
        d["warps"] = self.nwarps
        return d

    @classmethod
    def from_json(cls, d: dict) -> "GemvSpec":
        return cls(**d)

    # -- buffers (element counts of the kernel's parameters) -------------------
    @property
    def weight_vecs(self) -> int:
        """16-byte vectors of packed weight."""
        return self.tiles * self.chunks * self.bits * LANES

    @property
    def scale_words(self) -> int:
        """u32 words of scales (each two fp16: rows g and g+8 of a tile)."""
        return self.tiles * self.dev_groups * 8

    @property
    def meta_words(self) -> int:
        return self.tiles * self.dev_groups if self.info.has_meta else 0

    def params(self) -> list[str]:
        """Kernel parameter names in order (all pointers except the last, ``m``)."""
        p = ["w", "scales"]
        if self.info.affine:
            p.append("zeros")
        if self.info.has_meta:
            p.append("meta")
        p += ["x", "y"]
        if self.bias:
            p.append("bias")
        p.append("m")
        return p

    def bytes_moved(self, m: int) -> int:
        """Bytes a launch must move at least: canonical packed codes + scales
        (+ zeros, + 2-bit selectors) + activations + outputs."""
        info = self.info
        codes = self.n * math.ceil(self.k * self.bits / 8)
        sc = self.n * self.groups * 2
        if info.affine:
            sc *= 2
        if info.has_meta:
            sc += self.n * math.ceil(self.groups * 2 / 8)
        outb = {"float16": 2, "bfloat16": 2, "float32": 4}[self.out]
        return codes + sc + m * self.k * 2 + m * self.n * outb + (self.n * 4 if self.bias else 0)


# scales in lanes: at most this many chunks per warp (two registers per word
# kind: 16 group words per chunk at group 128, 32 per register). Every variant
# whose warps own at most this many chunks also comes with scales in lanes: no
# per-chunk scale loads, a shuffle per group instead. Same process on the H100
# (bench/notes_cuda.md run 35): int2 8192x8192 W8r64 9.20 -> 8.83 us, uint4
# 14.78 -> 14.22, int2 4096x4096 3.75 -> 3.68; but int4 4096x4096 W16r64 4.75
# -> 4.84 - so both are carried and the runtime's measurement picks.
LANE_SCALE_TRIPS = 4


def warp_trips(full_chunks: int, warps: int) -> int:
    """Loop trips of a block's first warp: its share of the full chunks."""
    return -(-full_chunks // warps)


def lane_scales_fit(n: int, k: int, group_size: int, warps: int) -> bool:
    """Whether a kernel can hold its warps' scale words in lanes
    (``GemvSpec.lane_scales``): group 128 (two groups per chunk), at least one
    full chunk and at most LANE_SCALE_TRIPS chunks per warp."""
    return group_size == CHUNK_K // 2 and group_size < k and 0 < warp_trips(k // CHUNK_K, warps) <= LANE_SCALE_TRIPS


def lane_scale_registers(spec: "GemvSpec") -> int:
    """Registers per word kind (scales, zeros) of a lane-scales kernel."""
    return -(-warp_trips(spec.full_chunks, spec.nwarps) * 16 // LANES)


def choose_warps(n: int, k: int, fmt: str | None = None) -> int:
    """Warps per block (the split-K factor inside a block).

    From the H100 measurements in bench/notes_cuda.md (M = 1, group 128):
    8 warps for most shapes (fewer resident blocks than tiles otherwise
    leaves a partial last wave); 16 when there are few tiles (N <= ~4800,
    one block per SM already covers them) and K is long enough; 4 for the
    register-heavy decoders (8-bit codes: ~72-128 registers; RaZeR: 72-99),
    whose blocks otherwise fit two per SM. Never more warps than chunks.
    """
    chunks = -(-k // CHUNK_K)
    tiles = -(-n // TILE_N)
    heavy = False
    if fmt is not None:
        info = format_info(fmt)
        heavy = info.bits >= 8 or info.kind == "razer"
    if tiles <= 300 and chunks >= 16 and not heavy:
        w = 16
    elif heavy:
        w = 4
    else:
        w = 8
    return max(1, min(w, chunks))


VARIANT_WARPS = (4, 8, 16)
# speed of the best one-row-tile 2-bit kernel relative to the best two-row-tile one
# where both keep the SMs busy (int2 at the two largest shapes: 0.94-0.96,
# bench/notes_cuda.md run 23)
ISSUE_2BIT = 0.95
# (warps, register cap, rolling reloads) of the capped variants, each carried
# when K has a chunk for every warp (the runtime refuses one that spills):
# * 8 warps at <= 64 registers fit 4 blocks per SM, enough for 512 tiles
#   (N = 8192) in one wave at twice the warps of the 4-warp kernel; rolling
#   reloads (one chunk of codes in registers) let most decoders fit the cap
#   without spilling (H100, bench/notes_cuda.md run 25: RaZeR 8192x8192
#   15.9 -> 15.4 us, int4 8192x28672 44.2 -> 43.3, e2m1 8192x8192 14.0 -> 13.7);
# * 16 warps at <= 64 registers: with the cap ptxas issues each warp's loads
#   earlier (63-64 registers where it picked 34-50 uncapped) - faster where a
#   warp owns one or two chunks (4096x4096: int4 5.5 -> 5.0 us, RaZeR 5.7 -> 5.1,
#   e2m1 5.8 -> 4.9)
CAPPED_VARIANTS = ((8, 64, True), (16, 64, False))
# register-budget variants (warps, maxnreg, rolling): fewer warps with a cap
# that still fits 4 blocks per SM. ptxas treats the cap as a budget - it used
# 80 registers at W6 with the cap where it picked 56 without - and schedules
# each warp's loads earlier. Same process on the H100 (bench/notes_cuda.md runs
# 39-40), us, against the 8-warp capped rolling kernel: int4 8192x8192 W5r96
# 13.53 vs 13.89, 8192x28672 W6r80 42.43 vs 43.56; RaZeR 8192x8192 W4r128
# rolling 15.04 vs 15.66; int2 8192x28672 W6r80 rolling 26.65 vs 27.28; slower
# at 4096x4096 and for most other (format, shape) pairs. The model does not
# score them (it knows occupancy, not scheduling): they are carried where K
# has a chunk per warp, for the runtime's measurement only.
BUDGET_VARIANTS = ((5, 96, False), (6, 80, False), (6, 80, True), (4, 128, True))
# ... and for the formats of two_row_tiles: 8 warps, two row tiles, 128
# registers (2 blocks per SM: N = 8192's 256 blocks in one wave). With scales in
# lanes, int2 8192x8192 8.67 us against 8.96 for the one-tile kernel (run 44).
BUDGET_TWO_TILE_VARIANTS = ((8, 128, False),)


# extra warp count for RaZeR: its 6-warp blocks (80 registers) fit 4 per SM, so
# N = 8192 (512 tiles) runs in one wave at 23 warps per SM, where 4-warp blocks
# leave 15.5 and 8-warp blocks need 1.3 waves (8192x8192: 15.7 vs 16.8 / 18.4 us)
RAZER_EXTRA_WARPS = 6


def two_row_tiles(fmt: str | None) -> bool:
    """Whether the artifact carries two-row-tile variants for ``fmt``: the
    2-bit integer formats, whose per-chunk skeleton is their limit (the
    3- and 4-bit ones measured no faster with two row tiles)."""
    if fmt is None:
        return False
    info = format_info(fmt)
    return info.kind == "int" and info.bits <= 2


def variant_options(n: int, k: int, fmt: str | None = None, group_size: int = 128
                    ) -> list[tuple[int, int, int, bool, bool]]:
    """(warps, maxnreg, row_tiles, rolling, lane_scales) of every kernel
    variant an artifact carries (the runtime picks one per device with
    :func:`pick_variant` and its own measurement): the warp counts of
    :data:`VARIANT_WARPS` (heuristic's choice first) uncapped, plus
    :data:`CAPPED_VARIANTS` where K has a chunk for each of their warps, plus
    :data:`RAZER_EXTRA_WARPS` for RaZeR, plus two-row-tile blocks of each warp
    count for the formats of :func:`two_row_tiles`; then
    :data:`BUDGET_VARIANTS` (and :data:`BUDGET_TWO_TILE_VARIANTS`) where K has
    a chunk for each of their warps (:func:`measured_only`); then a
    scales-in-lanes twin of each of them that :func:`lane_scales_fit`."""
    chunks = -(-k // CHUNK_K)
    tiles = -(-n // TILE_N)
    first = choose_warps(n, k, fmt)
    out = [(first, 0, 1, False)]
    warps = VARIANT_WARPS
    if fmt is not None and format_info(fmt).kind == "razer":
        warps = warps + (RAZER_EXTRA_WARPS,)
    for w in warps:
        w = max(1, min(w, chunks))
        if (w, 0, 1, False) not in out:
            out.append((w, 0, 1, False))
    for w, r, rolling in CAPPED_VARIANTS:
        if chunks >= w:
            out.append((w, r, 1, rolling))
    if tiles >= 2 and two_row_tiles(fmt):
        for w in VARIANT_WARPS:
            w = max(1, min(w, chunks))
            if (w, 0, 2, False) not in out:
                out.append((w, 0, 2, False))
    for w, r, rolling in BUDGET_VARIANTS:
        if chunks >= w and (w, r, 1, rolling) not in out:
            out.append((w, r, 1, rolling))
    if tiles >= 2 and two_row_tiles(fmt):
        out += [(w, r, 2, rolling) for w, r, rolling in BUDGET_TWO_TILE_VARIANTS if chunks >= w]
    out = [o + (False,) for o in out]
    return out + [o[:4] + (True,) for o in out if lane_scales_fit(n, k, group_size, o[0])]


def measured_only(warps: int, maxnreg: int, rolling: bool, row_tiles: int = 1) -> bool:
    """Whether a variant is a register-budget one (:data:`BUDGET_VARIANTS`,
    :data:`BUDGET_TWO_TILE_VARIANTS`; with or without scales in lanes):
    carried for the runtime's measurement, never the model's pick."""
    if row_tiles == 2:
        return (warps, maxnreg, rolling) in BUDGET_TWO_TILE_VARIANTS
    return (warps, maxnreg, rolling) in BUDGET_VARIANTS


def pick_variant(tiles: int, chunks: int, bits: int, options, sms: int) -> int:
    """Index of the best (warps W, resident blocks per SM B) option.

    Model (fit to the H100 measurements in bench/notes_cuda.md): the kernel is
    memory-bound when every SM keeps enough warps streaming - about
    96 / bits of them, 8..32 (narrow codes move fewer bytes per warp-chunk;
    the same count for blocks of two row tiles, which measured slower with
    half the warps at N = 8192) - and loses (a) the idle share of a partial last wave of blocks,
    (b) the idle share of unevenly split chunks and (c) each block's
    start-up and reduction, worth about 1.5 chunks of a warp's work (0.75
    of a two-tile chunk), hidden only by the other blocks resident on the
    same SM. 2-bit blocks of one row tile pay (d) their per-chunk skeleton
    (x loads, loop and address work per byte, twice 4-bit's), which two row
    tiles halve: worth ``ISSUE_2BIT`` of their rate. Score = product of the
    factors. Ties (within 2 %) go to fewer warps per block - unless the
    option with more warps still keeps two blocks resident per SM, gives
    each warp >= 8 chunks and loses nothing to a partial last wave: with long
    K, 8-warp blocks beat 4-warp ones at equal warps per SM (RaZeR
    8192x28672: 47.0 vs 52.3 us), but not with 1.3 waves (int4: 53.2 vs
    46.5 us) - then to a register-capped variant (measured faster at equal
    occupancy).

    ``options``: (W, B), (W, B, capped) or (W, B, capped, row_tiles) per
    variant; B < 1 (no block fits, or the runtime refused the variant
    because it spills) never wins.
    """
    need = min(32.0, max(8.0, 96.0 / max(bits, 1)))
    best, best_score, best_key = 0, -1.0, None
    for i, opt in enumerate(options):
        w, b = opt[0], opt[1]
        capped = bool(opt[2]) if len(opt) > 2 else False
        rt = int(opt[3]) if len(opt) > 3 else 1
        if b < 1:
            continue
        blocks = -(-tiles // rt)
        resident = b * sms
        if blocks <= resident:
            per_sm = blocks / sms
            eff = per_sm / math.ceil(per_sm)
            together = per_sm
        else:
            waves = blocks / resident
            eff = waves / math.ceil(waves)
            together = b
        warps = together * w
        per_warp = chunks / w
        balance = per_warp / math.ceil(per_warp)
        overlap = per_warp / (per_warp + 1.5 / rt / max(1.0, together))
        score = eff * min(1.0, warps / need) * balance * overlap
        if bits <= 2 and rt == 1:
            score *= ISSUE_2BIT
        key = (w, together, per_warp, capped, eff)
        if score > best_score * 1.02 or (score >= best_score * 0.98 and _wins_tie(key, best_key)):
            best, best_score, best_key = i, score, key
    return best


def _wins_tie(key, best_key) -> bool:
    """Tie-break of :func:`pick_variant` between two (W, blocks together,
    chunks per warp, capped, wave efficiency) options of equal score."""
    if best_key is None:
        return True
    w, _, _, capped, _ = key
    if w == best_key[0]:
        return capped and not best_key[3]
    more, fewer = (key, best_key) if w > best_key[0] else (best_key, key)
    long_streams = more[1] >= 2 and more[2] >= 8 and more[4] >= fewer[4] - 0.02
    return (key is more) == long_streams
