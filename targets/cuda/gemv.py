"""MLIR kernel generator for low-bit GEMV / skinny GEMM (M = 1..8) on NVIDIA GPUs.

:func:`generate` returns the text of a ``gpu.module`` (inside a
``builtin.module`` with ``gpu.container_module``) holding one
``gpu.func ... kernel`` written with upstream dialects only: ``gpu``
(thread / block ids, shuffle-free block reduction through workgroup memory,
barrier, ``gpu.shuffle idx`` for scales held in lanes), ``memref`` +
``vector`` (16-byte global loads), ``arith`` (bit manipulation, index
math), ``scf`` (the split-K loop with a one-chunk-ahead prefetch, masked
tails), ``llvm`` (half2 fma / bitcasts) and ``nvvm`` (``prmt`` byte
permutes, ``mma.sync.m16n8k16``). :mod:`lower` turns it into
PTX through upstream NVVM (``gpu-module-to-binary{format=isa}``).

The kernel (one block per ``R`` = ``row_tiles`` tiles of 16 output rows,
``W`` warps split K)::

    for each chunk c of 256 k owned by this warp (c = warp, warp+W, ...):
        prefetch chunk c+W of each tile (bits x 16-byte loads per thread, scale words;
            ``rolling``: the code vectors one by one, each after the last MMA
            that reads the same vector of chunk c; ``lane_scales``: no scale
            words - the prologue loaded all of the warp's into lanes, and each
            group's comes out by one ``shfl.idx``)
        decode 64 pairs of codes per tile into f16x2 A fragments  (decode.py)
        per step s (64 k): load the x fragment (two 16-byte loads)
            per MMA j, per tile: C_g = mma(A_sj, B_sj, C_g)  (+ one ones-MMA for zero points)
                (subnormal decode: C_g *= 2^(T_j - T_prev) where the tile's T changes)
            at the end of each group g: acc += scale_g * C_g  (- scale*zero*X_g)
    block reduction of acc over warps through shared memory, + bias, store y

Dequantization happens only in registers; the dequantized weight never
exists in memory. Everything is fp32-accumulated; fp16 products inside the
MMA are exact (every decoded value and activation is an fp16 number).
"""

from __future__ import annotations

from .decode import plan_for_spec, razer_row_table
from .layout import pair_coords
from .spec import CHUNK_K, LANES, MAX_M, MMA_K, STEP_K, TILE_N, GemvSpec, lane_scale_registers

_ELEM = {"float16": "f16", "bfloat16": "bf16", "float32": "f32"}
_FEATURES = {"sm_80": "+ptx78", "sm_86": "+ptx78", "sm_89": "+ptx78", "sm_90": "+ptx80"}
_MMA_TYPE = "!llvm.struct<(f32, f32, f32, f32)>"
_V4 = "!llvm.struct<(i32, i32, i32, i32)>"  # one 16-byte load


class _Body:
    """Append-only SSA text builder. Constants go to the function entry so
    that every nested region can use them."""

    def __init__(self, odd_constants_add: bool = True):
        self.consts: list[str] = []
        self.lines: list[str] = []
        self.depth = 1
        self._n = 0
        self._cache: dict[tuple, str] = {}
        self.odd_constants_add = odd_constants_add

    def fresh(self, hint="v") -> str:
        self._n += 1
        return f"%{hint}{self._n}"

    def emit(self, rhs: str, hint="v") -> str:
        name = self.fresh(hint)
        self.lines.append("  " * self.depth + f"{name} = {rhs}")
        return name

    def emit_n(self, n: int, rhs: str, hint="r") -> list[str]:
        name = self.fresh(hint)
        self.lines.append("  " * self.depth + f"{name}:{n} = {rhs}")
        return [f"{name}#{i}" for i in range(n)]

    def stmt(self, text: str):
        self.lines.append("  " * self.depth + text)

    def const(self, value, ty: str) -> str:
        key = ("c", value, ty)
        if key not in self._cache:
            name = self.fresh("c")
            if ty in ("f32", "f16", "bf16"):
                lit = repr(float(value))
            else:
                lit = str(int(value))
            self.consts.append(f"    {name} = arith.constant {lit} : {ty}")
            self._cache[key] = name
        return self._cache[key]

    def i32(self, v: int) -> str:
        v &= 0xFFFFFFFF
        if v >= 1 << 31:
            v -= 1 << 32
        return self.const(v, "i32")

    def idx(self, v: int) -> str:
        return self.const(v, "index")

    def opaque(self, v: int) -> str:
        """An i32 equal to ``v`` that neither LLVM nor ptxas can see through,
        built from the launch argument m in 1..8 (z = m >> 31 = 0): ``v ^ z``
        for an even v, ``v + z`` for an odd one. Decode masks, magic numbers
        and permute tables held this way live in (uniform) registers, so ptxas
        fuses ``(w & mask) | magic`` into one 3-register LOP3 and stops
        rematerializing table constants; computed once at kernel entry.
        For an odd v ptxas folded ``v ^ z`` back into its use - a LOP3 of w,
        immediate v and z, then a second LOP3 for the OR - so odd values take
        the add, which a LOP3 cannot absorb: int4 8192x8192 loop 236 -> 206
        SASS instructions, int2 214 -> 198, and 1-3 % faster (bench/
        notes_cuda.md, runs 17 and 30-33). RaZeR kernels keep the xor
        (``odd_constants_add=False``): their one odd constant is a permute
        table, and the add version measured 2.6 % slower at 8192x8192."""
        def make():
            z = self.cached(("rt_zero",), lambda: self.emit(f"arith.shrui %m, {self.i32(31)} : i32", "z"))
            op = "addi" if v & 1 and self.odd_constants_add else "xori"
            return self.emit(f"arith.{op} {self.i32(v)}, {z} : i32", "o")
        return self.cached(("opaque", v & 0xFFFFFFFF), make)

    def cached(self, key, make) -> str:
        if key not in self._cache:
            lines, self.lines = self.lines, []
            depth, self.depth = self.depth, 1
            name = make()
            self.consts.extend("  " + ln for ln in self.lines)
            self.lines, self.depth = lines, depth
            self._cache[key] = name
        return self._cache[key]

    def vec2(self, bits: int, ty: str) -> str:
        """A constant vector<2xty> given as its 32-bit pattern."""
        c = self.i32(bits)
        return self.cached(("v2", bits, ty), lambda: self.emit(f"llvm.bitcast {c} : i32 to vector<2x{ty}>", "k"))


class _MlirBackend:
    """decode.py backend: emits arith / nvvm / llvm ops on i32 values."""

    def __init__(self, b: _Body):
        self.b = b

    def const(self, c):
        return self.b.opaque(c)

    def _op(self, op, a, b):
        return self.b.emit(f"arith.{op} {a}, {b} : i32")

    def shr(self, v, s):
        return self._op("shrui", v, self.b.i32(s))

    def shl(self, v, s):
        return self._op("shli", v, self.b.i32(s))

    def shr_dyn(self, v, s):
        return self._op("shrui", v, s)

    def andc(self, v, c):
        return self._op("andi", v, self.b.opaque(c))

    def or_(self, a, c):
        return self._op("ori", a, c)

    def orc(self, v, c):
        return self._op("ori", v, self.b.opaque(c))

    def shr_mulhi(self, v, s):
        # v >> s as the high word of v * 2^(32-s): ptxas emits IMAD.HI (FMA
        # pipe) for an explicit mul.hi, where a shift would be an integer-pipe SHF
        return self.b.emit(f'llvm.inline_asm "mul.hi.u32 $0, $1, {1 << (32 - s)};", "=r,r" {v} : (i32) -> i32', "mh")

    def xor(self, a, c):
        return self._op("xori", a, c)

    def xorc(self, v, c):
        return self._op("xori", v, self.b.opaque(c))

    def zero(self):
        return self.b.i32(0)

    def imm(self, c):
        # a selector ptxas encodes in the instruction (not a register)
        return self.b.i32(c)

    def prmt(self, a, c, sel):
        # assembly order: selector first, then the low and high source words
        return self.b.emit(f"nvvm.prmt #nvvm.permute_mode<default> {sel}, {a}, {c} : i32", "p")

    def _h2(self, v):
        return self.b.emit(f"llvm.bitcast {v} : i32 to vector<2xf16>", "h")

    def _i(self, v, ty="f16"):
        return self.b.emit(f"llvm.bitcast {v} : vector<2x{ty}> to i32")

    def hfma2c(self, v, a, c):
        h = self._h2(v)
        r = self.b.emit(
            f"llvm.intr.fma({h}, {self.b.vec2(a, 'f16')}, {self.b.vec2(c, 'f16')}) : "
            "(vector<2xf16>, vector<2xf16>, vector<2xf16>) -> vector<2xf16>", "h")
        return self._i(r)

    def hmul2c(self, v, a):
        h = self._h2(v)
        r = self.b.emit(f"arith.mulf {h}, {self.b.vec2(a, 'f16')} : vector<2xf16>", "h")
        return self._i(r)

    def f16x2_to_bf16x2(self, v):
        h = self._h2(v)
        f = self.b.emit(f"arith.extf {h} : vector<2xf16> to vector<2xf32>")
        t = self.b.emit(f"arith.truncf {f} : vector<2xf32> to vector<2xbf16>")
        return self._i(t, "bf16")


class _Kernel:
    def __init__(self, spec: GemvSpec):
        self.spec = spec
        self.info = spec.info
        self.plan = plan_for_spec(spec)
        self.b = _Body(odd_constants_add=spec.info.kind != "razer")
        self.be = _MlirBackend(self.b)
        self.act = _ELEM[spec.act]
        self.out = _ELEM[spec.out]
        self.W = spec.nwarps
        self.R = spec.row_tiles
        g = spec.eff_group
        self.groups_per_chunk = max(1, CHUNK_K // g)
        # u32 words per group record: scale (+ zero) (+ RaZeR selectors)
        self.group_words = 1 + int(self.info.affine) + int(self.info.has_meta)

    # ----------------------------------------------------------------- helpers
    def ix(self, op, a, c):
        return self.b.emit(f"arith.{op} {a}, {c} : index", "i")

    def ixc(self, op, a, v: int):
        return self.ix(op, a, self.b.idx(v))

    def local_group(self, s: int, j: int) -> int:
        if self.groups_per_chunk == 1:
            return 0
        return (STEP_K * s + MMA_K * j) // self.spec.eff_group

    # ------------------------------------------------------------------ loads
    def stream_load(self, ptr: str, idx, vec: bool) -> str:
        """A load of streamed data (weights, scales) as an opaque inline-PTX
        ``ld.global.nc.L1::no_allocate``: LLVM cannot fold it into a later use
        (which would undo the prefetch) and L1 keeps its room for the activations."""
        b = self.b
        i = b.emit(f"arith.index_cast {idx} : index to i32")
        ety = "vector<4xi32>" if vec else "i32"
        p = b.emit(f"llvm.getelementptr {ptr}[{i}] : (!llvm.ptr<1>, i32) -> !llvm.ptr<1>, {ety}", "p")
        if vec:
            return b.emit(
                'llvm.inline_asm "ld.global.nc.L1::no_allocate.v4.u32 {$0, $1, $2, $3}, [$4];", '
                f'"=r,=r,=r,=r,l" {p} : (!llvm.ptr<1>) -> {_V4}', "w")
        return b.emit(f'llvm.inline_asm "ld.global.nc.L1::no_allocate.u32 $0, [$1];", "=r,l" {p} : '
                      "(!llvm.ptr<1>) -> i32", "s")

    def first_group(self, c):
        """Index of chunk c's first group record."""
        sp, b = self.spec, self.b
        if self.groups_per_chunk > 1:
            return self.ixc("muli", c, self.groups_per_chunk)
        if sp.single_group:
            return b.idx(0)
        return self.ixc("divui", c, sp.eff_group // CHUNK_K)

    def load_chunk(self, c, lane_scales: bool = False) -> list[str]:
        """Everything a chunk needs from memory, issued together (prefetch):
        per tile of the block, its code vectors then its group words (only
        the RaZeR selectors with ``lane_scales``: scales in lanes)."""
        sp = self.spec
        vals = []
        cofs = self.ixc("muli", c, sp.bits * LANES)
        for r in range(self.R):
            base = self.ix("addi", self.wlane[r], cofs)
            for l in range(sp.bits):
                i = self.ixc("addi", base, l * LANES) if l else base
                vals.append(self.stream_load("%w", i, True))
            if r == 0:  # after the first code loads: one-tile kernels keep their instruction order
                g0 = self.first_group(c)
            vals += self.load_groups(c, r, g0, lane_scales)
        return vals

    def load_groups(self, c, r: int, g0=None, lane_scales: bool = False) -> list[str]:
        """Tile r's group words of chunk c (scale, zero, RaZeR selectors; only
        the selectors with ``lane_scales``); ``g0``: chunk c's first group
        index if already computed."""
        vals = []
        if g0 is None:
            g0 = self.first_group(c)
        for gi in range(self.groups_per_chunk):
            grp = self.ixc("addi", g0, gi) if gi else g0
            if not lane_scales:
                si = self.ix("addi", self.sbase[r], self.ixc("muli", grp, 8))
                vals.append(self.stream_load("%scales", si, False))
                if self.info.affine:
                    vals.append(self.stream_load("%zeros", si, False))
            if self.info.has_meta:
                vals.append(self.stream_load("%meta", self.ix("addi", self.mbase[r], grp), False))
        return vals

    def vector_loader(self, c):
        """``load(r, l)``: tile r's code vector l of chunk c (rolling reloads)."""
        cofs = self.ixc("muli", c, self.spec.bits * LANES)
        bases = {}

        def load(r, l):
            if r not in bases:
                bases[r] = self.ix("addi", self.wlane[r], cofs)
            i = self.ixc("addi", bases[r], l * LANES) if l else bases[r]
            return self.stream_load("%w", i, True)
        return load

    def vector_last_mma(self) -> dict[int, int]:
        """Code vector l -> the MMA (4*s + j) after which no decode reads it."""
        last_pair = self.plan.words_last_pair()
        return {l: max(last_pair[4 * l + e] for e in range(4)) // 4 for l in range(self.spec.bits)}

    def prefetch_chunk(self, c) -> None:
        """``prefetch.global.L2`` of chunk c's weight bytes (``bits`` x 512 B, one
        128-byte line per lane) and its scale record: DRAM latency overlaps the
        work of the chunks before it, and these take no registers, so nothing
        pushes the compiler to sink them."""
        sp = self.spec
        cofs = self.ixc("muli", c, sp.bits * LANES)
        g0 = self.first_group(c)
        for r in range(self.R):
            base = self.ix("addi", self.wchunk0[r], cofs)
            self._prefetch("%w", self.ix("addi", base, self.pf_lane), "vector<4xi32>")
            self._prefetch("%scales", self.ix("addi", self.sbase[r], self.ixc("muli", g0, 8)), "i32")

    def _prefetch(self, ptr, idx, ety):
        b = self.b
        i = b.emit(f"arith.index_cast {idx} : index to i32")
        p = b.emit(f"llvm.getelementptr {ptr}[{i}] : (!llvm.ptr<1>, i32) -> !llvm.ptr<1>, {ety}", "p")
        b.stmt(f'llvm.inline_asm has_side_effects "prefetch.global.L2 [$0];", "l" {p} : (!llvm.ptr<1>) -> ()')

    @property
    def pdl(self) -> bool:
        """Programmatic dependent launch (sm_90): ``griddepcontrol`` in the kernel."""
        return self.spec.arch == "sm_90"

    def grid_dependency_wait(self) -> None:
        """``griddepcontrol.wait``: blocks until the grids this launch depends on
        have completed and their writes are visible. Placed after the first
        weight loads (which no earlier grid writes) and before the first read of
        x / write of y. A no-op when the launch is not programmatic-dependent."""
        if self.pdl:
            self.b.stmt('llvm.inline_asm has_side_effects "griddepcontrol.wait;", "~{memory}" : () -> ()')

    def launch_dependents(self) -> None:
        self.b.stmt('llvm.inline_asm has_side_effects "griddepcontrol.launch_dependents;", "" : () -> ()')

    def record_words(self, lane_scales: bool = False) -> int:
        """u32 words per group that load_groups returns."""
        return int(self.info.has_meta) if lane_scales else self.group_words

    def tile_types(self, lane_scales: bool = False) -> list[str]:
        """Types of what load_chunk returns for one tile."""
        return [_V4] * self.spec.bits + ["i32"] * (self.record_words(lane_scales) * self.groups_per_chunk)

    def chunk_types(self, lane_scales: bool = False) -> list[str]:
        return self.tile_types(lane_scales) * self.R

    def load_lane_scales(self, warp, lane, c_last) -> list[list[list[str]]]:
        """Scales in lanes (``GemvSpec.lane_scales``), in the prologue:
        [tile][scales, zeros][register]. Register j of lane l holds group word
        (l & 15) of the warp's trip 2j + (l >> 4): the scale (zero) word of
        rows (l & 7) and (l & 7) + 8 in group (l >> 3) & 1 of that trip's chunk
        (trips past the warp's last one re-read its last chunk)."""
        sp = self.spec
        hi = self.ixc("shrui", lane, 4)
        lo = self.ixc("andi", lane, 15)
        out = []
        for r in range(self.R):
            kinds = []
            for ptr in ["%scales"] + (["%zeros"] if self.info.affine else []):
                regs = []
                for j in range(lane_scale_registers(sp)):
                    trip = self.ixc("addi", hi, 2 * j) if j else hi
                    ch = self.ix("minui", self.ix("addi", warp, self.ixc("muli", trip, self.W)), c_last)
                    idx = self.ix("addi", self.stile[r], self.ix("addi", self.ixc("muli", ch, 16), lo))
                    regs.append(self.stream_load(ptr, idx, False))
                kinds.append(regs)
            out.append(kinds)
        return out

    def shuffle_lane_scales(self, lane_words, iv, g) -> list[list[list[str]]]:
        """Trip iv's group words out of the prologue's lane registers:
        [tile][group] -> [scale (, zero)] (one ``shfl.idx`` per word)."""
        b = self.b
        iv32 = b.emit(f"arith.index_cast {iv} : index to i32")
        g32 = b.emit(f"arith.index_cast {g} : index to i32")
        odd = b.emit(f"arith.andi {iv32}, {b.i32(1)} : i32")
        src0 = b.emit(f"arith.addi {b.emit(f'arith.shli {odd}, {b.i32(4)} : i32')}, {g32} : i32")
        later = None
        if lane_scale_registers(self.spec) > 1:
            later = b.emit(f"arith.cmpi uge, {iv32}, {b.i32(2)} : i32")
        out = []
        for kinds in lane_words:
            regs = [k[0] if later is None else b.emit(f"arith.select {later}, {k[1]}, {k[0]} : i32") for k in kinds]
            groups = []
            for gi in range(self.groups_per_chunk):
                src = src0 if gi == 0 else b.emit(f"arith.addi {src0}, {b.i32(8 * gi)} : i32")
                groups.append([b.emit_n(2, f"gpu.shuffle idx {reg}, {src}, {b.i32(LANES)} : i32", "sh")[0]
                               for reg in regs])
            out.append(groups)
        return out

    def x_words(self, kb, nhalves: int, masked: bool) -> list[str]:
        """nhalves activations x[xrow, kb : kb+nhalves] as i32 words (2 halves each)."""
        sp, b = self.spec, self.b
        v = min(sp.xvec, nhalves)
        xty = f"memref<{MAX_M * sp.k}x{self.act}, 1>"
        halves = []  # list of (value, count)
        for o in range(0, nhalves, v):
            kk = self.ixc("addi", kb, o) if o else kb
            if masked:
                valid = b.emit(f"arith.cmpi ult, {kk}, {b.idx(sp.k)} : index")
                kc = self.ix("minui", kk, b.idx(sp.k - v))
            else:
                kc = kk
            addr = self.ix("addi", self.xbase, kc)
            if v == 1:
                val = b.emit(f"memref.load %x[{addr}] : {xty}", "x")
                if masked:
                    val = b.emit(f"arith.select {valid}, {val}, {b.const(0.0, self.act)} : {self.act}", "x")
            else:
                val = b.emit(f"vector.load %x[{addr}] {{alignment = {2 * v}}} : {xty}, vector<{v}x{self.act}>", "x")
                if masked:
                    z = b.cached(("zv", v, self.act), lambda: b.emit(
                        f"arith.constant dense<0.0> : vector<{v}x{self.act}>", "k"))
                    val = b.emit(f"arith.select {valid}, {val}, {z} : vector<{v}x{self.act}>", "x")
            halves.append(val)
        words = []
        if v == 1:
            for a, c in zip(halves[0::2], halves[1::2]):
                pair = b.emit(f"vector.from_elements {a}, {c} : vector<2x{self.act}>")
                words.append(b.emit(f"llvm.bitcast {pair} : vector<2x{self.act}> to i32"))
        else:
            for val in halves:
                iv = b.emit(f"vector.bitcast {val} : vector<{v}x{self.act}> to vector<{v // 2}xi32>")
                for e in range(v // 2):
                    words.append(b.emit(f"vector.extract {iv}[{e}] : i32 from vector<{v // 2}xi32>"))
        return words

    # ---------------------------------------------------------------- compute
    def operand(self, word: str) -> str:
        if self.act == "f16":
            return self.b.emit(f"llvm.bitcast {word} : i32 to vector<2xf16>", "a")
        return word

    def mma(self, a: list[str], bfr: list[str], c: list[str] | None) -> list[str]:
        b = self.b
        opty = "vector<2xf16>" if self.act == "f16" else "i32"
        ptx = "" if self.act == "f16" else \
            "multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, "
        if c is None:
            z = b.const(0.0, "f32")
            c = [z] * 4
        r = b.emit(
            f"nvvm.mma.sync A[{', '.join(a)}] B[{', '.join(bfr)}] C[{', '.join(c)}] "
            f"{{layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, {ptx}"
            f"shape = #nvvm.shape<m = 16, n = 8, k = 16>}} : ({opty}, {opty}, f32) -> {_MMA_TYPE}", "mma")
        return [b.emit(f"llvm.extractvalue {r}[{i}] : {_MMA_TYPE}", "d") for i in range(4)]

    def fma(self, a, x, y):
        return self.b.emit(f"llvm.intr.fma({a}, {x}, {y}) : (f32, f32, f32) -> f32", "f")

    def f16pair(self, word) -> tuple[str, str]:
        b = self.b
        h = b.emit(f"llvm.bitcast {word} : i32 to vector<2xf16>", "h")
        f = b.emit(f"arith.extf {h} : vector<2xf16> to vector<2xf32>")
        return (b.emit(f"vector.extract {f}[0] : f32 from vector<2xf32>"),
                b.emit(f"vector.extract {f}[1] : f32 from vector<2xf32>"))

    def _offsets(self, gv, s_lo, s_hi) -> tuple[str, str]:
        """scale * (beta - zero) of rows g and g+8: the multiplier of X = sum(x)."""
        b, info = self.b, self.info
        beta = b.const(float(info.beta), "f32")
        z_lo, z_hi = self.f16pair(gv[1])
        out = []
        for sc, z in ((s_lo, z_lo), (s_hi, z_hi)):
            d = b.emit(f"arith.subf {beta}, {z} : f32")
            out.append(b.emit(f"arith.mulf {sc}, {d} : f32"))
        return out[0], out[1]

    def decode_tile(self, part: list[str], lazy: bool = False, lane_groups: list[list[str]] | None = None):
        """One tile's loaded chunk -> (``pair(p)``: A register p, group words
        per group). Eager: all 64 pairs emitted here; lazy: each pair when
        its MMA asks for it (:meth:`DecodePlan.decoder`). ``lane_groups``:
        the scale (zero) words per group, shuffled out of lanes; ``part``
        then holds only the RaZeR selectors of each group after the codes."""
        sp, b, info = self.spec, self.b, self.info
        nb = sp.bits
        vecs = part[:nb]
        rest = part[nb:]
        per = self.record_words(lane_groups is not None)
        grp_vals = [rest[i * per:(i + 1) * per] for i in range(self.groups_per_chunk)]
        if lane_groups is not None:
            grp_vals = [lane_groups[i] + grp_vals[i] for i in range(self.groups_per_chunk)]
        words = []
        for vq in vecs:
            for e in range(4):
                words.append(b.emit(f"llvm.extractvalue {vq}[{e}] : {_V4}", "q"))
        t2 = {}
        if info.has_meta:
            for gi, gv in enumerate(grp_vals):
                mw = gv[-1]
                for rp in (0, 1):
                    t2[(gi, rp)] = razer_row_table(self.be, mw, self.meta_shift[rp])

        def pair_param(p):
            s, j, r = pair_coords(p)
            return t2[(self.local_group(s, j), r & 1)]

        table = pair_param if info.has_meta else None
        bf16 = sp.act == "bfloat16"
        if lazy:
            return self.plan.decoder(self.be, words, table, bf16), grp_vals
        return self.plan.decode(self.be, words, table, bf16).__getitem__, grp_vals

    def compute_chunk(self, c, loaded: list[str], acc: list[str], masked: bool, reload=None, lane_groups=None):
        """acc: 4 fp32 accumulators per tile of the block (tile r: acc[4r:4r+4]).

        ``reload(r, l)`` (rolling kernels): emits the load of tile r's code
        vector l of a later chunk; called right after the last MMA whose
        decode reads this chunk's vector l, so the two share registers.
        ``lane_groups[r]``: tile r's group words from lanes (``loaded`` has none).
        Returns (acc, {(r, l): reloaded vector}), empty without ``reload``."""
        sp, b, info = self.spec, self.b, self.info
        per_tile = len(self.tile_types(lane_groups is not None))
        lazy = reload is not None
        decoded = [self.decode_tile(loaded[r * per_tile:(r + 1) * per_tile], lazy,
                                    None if lane_groups is None else lane_groups[r]) for r in range(self.R)]
        reloaded = {}
        done_after = {}
        if lazy:
            for l, i in self.vector_last_mma().items():
                done_after.setdefault(i, []).append(l)
        acc = list(acc)
        ones = b.cached(("ones", self.act), lambda: (
            b.emit("llvm.bitcast " + b.i32(0x3C003C00) + " : i32 to vector<2xf16>", "k")
            if self.act == "f16" else b.i32(0x3F803F80)))
        cbase = self.ixc("muli", c, CHUNK_K)
        sub = self.plan.subnormal
        cur, curx, cur_grp, cur_t = [None] * self.R, None, None, 0
        mmas = [(s, j) for s in range(4) for j in range(4)]
        xw = None
        for n_i, (s, j) in enumerate(mmas):
            if sp.wide and j == 0:
                kb = self.ix("addi", cbase, self.xoff_wide[s])
                xw = self.x_words(kb, 16, masked)
            if not sp.wide:
                kb = self.ix("addi", cbase, self.xoff_narrow[(s, j)])
                xw_j = self.x_words(kb, 4, masked)
                bfr = [self.operand(xw_j[0]), self.operand(xw_j[1])]
            else:
                bfr = [self.operand(xw[2 * j]), self.operand(xw[2 * j + 1])]
            lg = self.local_group(s, j)
            tile_t = self.plan.tile_shift[4 * s + j] if sub else 0
            if lg != cur_grp:
                cur, curx, cur_grp, cur_t = [None] * self.R, None, lg, tile_t
            elif tile_t != cur_t:
                # the sum so far counts in units of 2^(cur_t - 24); this tile's
                # subnormals in units of 2^(tile_t - 24): rescale (exact)
                f = b.const(float(2 ** (tile_t - cur_t)), "f32")
                cur = [[b.emit(f"arith.mulf {v}, {f} : f32") for v in cr] for cr in cur]
                cur_t = tile_t
            for r, (pair, _) in enumerate(decoded):
                regs = [pair(16 * s + 4 * j + q) for q in range(4)]
                cur[r] = self.mma([self.operand(v) for v in regs], bfr, cur[r])
            for l in done_after.get(n_i, ()):
                for r in range(self.R):
                    reloaded[(r, l)] = reload(r, l)
            if info.affine:  # X = sum(x) of the group, for the zero points (shared by the tiles)
                curx = self.mma([ones] * 4, bfr, curx)
            last = n_i == len(mmas) - 1 or self.local_group(*mmas[n_i + 1]) != lg
            if last:
                for r, (_, grp_vals) in enumerate(decoded):
                    acc[4 * r:4 * r + 4] = self.apply_group(grp_vals[lg], cur[r], curx, cur_t, acc[4 * r:4 * r + 4])
        return acc, reloaded

    def apply_group(self, gv, cur, curx, cur_t, acc):
        """acc += the group's dequantized contribution: scale * MMA sum (and
        the zero point's share through X = sum(x))."""
        b, info = self.b, self.info
        s_lo, s_hi = self.f16pair(gv[0])
        if self.plan.subnormal:
            # W = scale * (alpha * u + beta - zero), u = R * 2^(24 - T)
            f = b.const(info.alpha * float(2 ** (24 - cur_t)), "f32")
            w_lo = b.emit(f"arith.mulf {s_lo}, {f} : f32")
            w_hi = b.emit(f"arith.mulf {s_hi}, {f} : f32")
            acc = [self.fma((w_lo, w_lo, w_hi, w_hi)[i], cur[i], acc[i]) for i in range(4)]
            off_lo, off_hi = self._offsets(gv, s_lo, s_hi)
            return [self.fma((off_lo, off_lo, off_hi, off_hi)[i], curx[i], acc[i]) for i in range(4)]
        scl = (s_lo, s_lo, s_hi, s_hi)
        acc = [self.fma(scl[i], cur[i], acc[i]) for i in range(4)]
        if info.affine:
            z_lo, z_hi = self.f16pair(gv[1])
            nsz_lo = b.emit(f"arith.mulf {s_lo}, {z_lo} : f32")
            nsz_hi = b.emit(f"arith.mulf {s_hi}, {z_hi} : f32")
            nsz_lo = b.emit(f"arith.negf {nsz_lo} : f32")
            nsz_hi = b.emit(f"arith.negf {nsz_hi} : f32")
            nsz = (nsz_lo, nsz_lo, nsz_hi, nsz_hi)
            acc = [self.fma(nsz[i], curx[i], acc[i]) for i in range(4)]
        return acc

    # ------------------------------------------------------------------ kernel
    def generate(self) -> str:
        sp, b = self.spec, self.b
        info = self.info
        W = self.W
        # ---- ids and per-thread bases
        tid = b.emit("gpu.thread_id x", "tid")
        bid = b.emit("gpu.block_id x", "bid")
        lane = self.ixc("remui", tid, LANES)
        warp = self.ixc("divui", tid, LANES)
        g = self.ixc("shrui", lane, 2)
        t = self.ixc("andi", lane, 3)
        mi = b.emit("arith.index_cast %m : i32 to index", "mi")
        mm1 = self.ixc("subi", mi, 1)
        xrow = self.ix("minui", g, mm1)
        self.xbase = self.ixc("muli", xrow, sp.k)
        R = self.R
        if R == 1:
            tiles = [bid]
        else:
            # the last block of an odd tile count re-reads its last tile (in
            # bounds, cached) and stores none of those rows (they are >= N)
            first = self.ixc("muli", bid, R)
            tiles = [first] + [self.ix("minui", self.ixc("addi", first, r), b.idx(sp.tiles - 1)) for r in range(1, R)]
        self.wchunk0 = [self.ixc("muli", tl, sp.chunks * sp.bits * LANES) for tl in tiles]
        self.wlane = [self.ix("addi", w0, lane) for w0 in self.wchunk0]
        # lane l prefetches 128-byte line min(l, 4*bits-1) of a chunk (8 vectors per line)
        self.pf_lane = self.ixc("muli", self.ix("minui", lane, b.idx(4 * sp.bits - 1)), 8)
        self.stile, self.sbase = [], []  # per tile: its scale words, thread (g, t)'s first
        for tl in tiles:
            self.stile.append(self.ixc("muli", tl, sp.dev_groups * 8))
            self.sbase.append(self.ix("addi", self.stile[-1], g))
        if info.has_meta:
            self.mbase = [self.ixc("muli", tl, sp.dev_groups) for tl in tiles]
            g32 = b.emit(f"arith.index_cast {g} : index to i32")
            sh0 = b.emit(f"arith.shli {g32}, {b.i32(1)} : i32")
            sh1 = b.emit(f"arith.addi {sh0}, {b.i32(16)} : i32")
            self.meta_shift = (sh0, sh1)
        if sp.wide:
            t16 = self.ixc("muli", t, 16)
            self.xoff_wide = [self.ixc("addi", t16, STEP_K * s) if s else t16 for s in range(4)]
        else:
            t4 = self.ixc("muli", t, 4)
            self.xoff_narrow = {(s, j): (self.ixc("addi", t4, STEP_K * s + MMA_K * j) if (s or j) else t4)
                                for s in range(4) for j in range(4)}
        zero = b.const(0.0, "f32")
        nacc = 4 * R
        acc0 = [zero] * nacc
        ls = sp.lane_scales
        ctypes = self.chunk_types(ls)
        nfull = sp.full_chunks
        # ---- full chunks c = warp + i*W. The chunks of iterations i+1 .. i+D are
        #      loaded before chunk i is decoded (D chunks in flight per warp). The
        #      loads are unconditional - chunk indices are clamped to the warp's last
        #      chunk, whose re-read hits the cache - so that they stay in the loop's
        #      single basic block, where ptxas issues them ahead of the math.
        acc = acc0
        D = sp.depth
        if nfull > 0:
            trips = self.ixc("divui", self.ix("subi", b.idx(nfull + W - 1), warp), W)
            last_i = self.ix("subi", self.ix("maxui", trips, b.idx(1)), b.idx(1))
            c_last = self.ix("minui", self.ix("addi", warp, self.ixc("muli", last_i, W)), b.idx(nfull - 1))
            P = sp.l2_ahead
            for d in range(D, D + P):
                self.prefetch_chunk(self.ix("minui", self.ixc("addi", warp, d * W), c_last))
            queue = []
            for d in range(D):
                cd = self.ix("minui", self.ixc("addi", warp, d * W) if d else warp, c_last)
                queue += self.load_chunk(cd, ls)
            if ls:
                lane_words = self.load_lane_scales(warp, lane, c_last)
            # the weights of the first chunks are in flight; x and y may belong to
            # the grid launched before this one (programmatic dependent launch)
            self.grid_dependency_wait()
            iv = b.fresh("i")
            acc_args = [b.fresh("a") for _ in range(nacc)]
            q_args = [b.fresh("q") for _ in queue]
            nq = len(ctypes)
            iter_decl = ", ".join(f"{n} = {v}" for n, v in zip(acc_args + q_args, acc0 + queue))
            loop_ty = ", ".join(["f32"] * nacc + ctypes * D)
            outs = b.emit_n(nacc + len(queue),
                            f"scf.for {iv} = {b.idx(0)} to {trips} step {b.idx(1)} "
                            f"iter_args({iter_decl}) -> ({loop_ty}) {{", "loop")
            b.depth += 1
            c = self.ix("addi", warp, self.ixc("muli", iv, W))
            if P:
                self.prefetch_chunk(self.ix("minui", self.ixc("addi", c, (D + P) * W), c_last))
            ahead = self.ix("minui", self.ixc("addi", c, D * W), c_last)
            lane_groups = self.shuffle_lane_scales(lane_words, iv, g) if ls else None
            if sp.rolling:
                # the chunk ahead's group words now, its code vectors one by one
                # as this chunk's are used up: one chunk of codes in registers
                groups = [self.load_groups(ahead, r, lane_scales=ls) for r in range(R)]
                new_acc, vecs = self.compute_chunk(c, q_args[:nq], acc_args, masked=False,
                                                   reload=self.vector_loader(ahead), lane_groups=lane_groups)
                nxt = []
                for r in range(R):
                    nxt += [vecs[(r, l)] for l in range(sp.bits)] + groups[r]
            else:
                nxt = self.load_chunk(ahead, ls)
                new_acc, _ = self.compute_chunk(c, q_args[:nq], acc_args, masked=False, lane_groups=lane_groups)
            b.stmt(f"scf.yield {', '.join(new_acc + q_args[nq:] + nxt)} : {loop_ty}")
            b.depth -= 1
            b.stmt("}")
            acc = outs[:nacc]
        else:
            self.grid_dependency_wait()
        if sp.k % CHUNK_K:
            # ---- the partial last chunk: activations beyond K read as 0
            owner = b.emit(f"arith.cmpi eq, {warp}, {b.idx(nfull % W)} : index")
            fty = ", ".join(["f32"] * nacc)
            res = b.emit_n(nacc, f"scf.if {owner} -> ({fty}) {{", "acc")
            b.depth += 1
            cl = b.idx(nfull)
            tail, _ = self.compute_chunk(cl, self.load_chunk(cl), acc, masked=True)
            b.stmt(f"scf.yield {', '.join(tail)} : {fty}")
            b.depth -= 1
            b.stmt("} else {")
            b.depth += 1
            b.stmt(f"scf.yield {', '.join(acc)} : {fty}")
            b.depth -= 1
            b.stmt("}")
            acc = res
        if self.pdl:
            # this warp has streamed all its weights: once every block got here the
            # next grid of the stream may start its blocks on the slots ours free,
            # streaming its first weights during our reduction and tail (it waits
            # for us in its own griddepcontrol.wait before it touches x or y).
            # Triggered here, not at the start: an early trigger let the next grid
            # take the free slots of a few SMs and unbalance its wave
            # (bench/notes_cuda.md, run 6); even grids that leave half the slots
            # free measured no faster with it (run 14)
            self.launch_dependents()
        # ---- block reduction: red[(warp*8 + col)*RT + row], RT = 16 R rows per block
        RT = TILE_N * R
        red_ty = f"memref<{W * MAX_M * RT}xf32, 3>"
        wrow = self.ixc("muli", warp, MAX_M)
        c0 = self.ixc("muli", t, 2)
        c1 = self.ixc("addi", c0, 1)
        for r in range(R):
            gr = self.ixc("addi", g, TILE_N * r) if r else g
            g8 = self.ixc("addi", gr, 8)
            a = acc[4 * r:4 * r + 4]
            for val, row, col in ((a[0], gr, c0), (a[1], gr, c1), (a[2], g8, c0), (a[3], g8, c1)):
                ok = b.emit(f"arith.cmpi ult, {col}, {mi} : index")
                b.stmt(f"scf.if {ok} {{")
                b.depth += 1
                slot = self.ix("addi", self.ixc("muli", self.ix("addi", wrow, col), RT), row)
                b.stmt(f"memref.store {val}, %red[{slot}] : {red_ty}")
                b.depth -= 1
                b.stmt("}")
        b.stmt("gpu.barrier")
        nout = self.ixc("muli", mi, RT)
        o = b.fresh("o")
        b.stmt(f"scf.for {o} = {tid} to {nout} step {b.idx(W * LANES)} {{")
        b.depth += 1
        col = self.ixc("divui", o, RT)
        row = self.ixc("remui", o, RT)
        n = self.ix("addi", self.ixc("muli", bid, RT), row)
        inb = b.emit(f"arith.cmpi ult, {n}, {b.idx(sp.n)} : index")
        b.stmt(f"scf.if {inb} {{")
        b.depth += 1
        total = None
        for w in range(W):
            slot = self.ix("addi", self.ixc("muli", self.ixc("addi", col, w * MAX_M), RT), row)
            v = b.emit(f"memref.load %red[{slot}] : {red_ty}", "r")
            total = v if total is None else b.emit(f"arith.addf {total}, {v} : f32")
        if sp.bias:
            bv = b.emit(f"memref.load %bias[{n}] : memref<{sp.n}xf32, 1>")
            total = b.emit(f"arith.addf {total}, {bv} : f32")
        if self.out != "f32":
            total = b.emit(f"arith.truncf {total} : f32 to {self.out}")
        yi = self.ix("addi", self.ixc("muli", col, sp.n), n)
        b.stmt(f"memref.store {total}, %y[{yi}] : memref<{MAX_M * sp.n}x{self.out}, 1>")
        b.depth -= 1
        b.stmt("}")
        b.depth -= 1
        b.stmt("}")
        b.stmt("gpu.return")
        return self.wrap()

    def wrap(self) -> str:
        sp = self.spec
        # streamed buffers are plain global pointers (read with inline-PTX loads)
        args = ["%w: !llvm.ptr<1>", "%scales: !llvm.ptr<1>"]
        if self.info.affine:
            args.append("%zeros: !llvm.ptr<1>")
        if self.info.has_meta:
            args.append("%meta: !llvm.ptr<1>")
        args += [f"%x: memref<{MAX_M * sp.k}x{self.act}, 1>", f"%y: memref<{MAX_M * sp.n}x{self.out}, 1>"]
        if sp.bias:
            args.append(f"%bias: memref<{sp.n}xf32, 1>")
        args.append("%m: i32")
        red = f"%red: memref<{self.W * MAX_M * TILE_N * self.R}xf32, 3>"
        target = f'#nvvm.target<chip = "{sp.arch}", features = "{_FEATURES[sp.arch]}", O = 3>'
        head = [
            f"// kvc cuda gemv: {sp.fmt} group {sp.group_size} N={sp.n} K={sp.k} act={sp.act} out={sp.out}"
            f" bias={sp.bias} warps={self.W} row_tiles={self.R} arch={sp.arch}",
            f"// grid = ({sp.blocks}, 1, 1), block = ({self.W * LANES}, 1, 1); params: {', '.join(sp.params())}",
            "module attributes {gpu.container_module} {",
            f"  gpu.module @kvc_cuda [{target}] {{",
            f"    gpu.func @{sp.name}({', '.join(args)}) workgroup({red}) kernel attributes "
            f"{{known_block_size = array<i32: {self.W * LANES}, 1, 1>, known_grid_size = array<i32: {sp.blocks}, 1, 1>"
            + (f", nvvm.maxnreg = {sp.maxnreg} : i32" if sp.maxnreg else "") + "} {",
        ]
        body = self.b.consts + ["  " + ln for ln in self.b.lines]
        return "\n".join(head + body + ["    }", "  }", "}", ""])


def generate(spec: GemvSpec) -> str:
    """MLIR text (upstream dialects only) of the kernel for ``spec``."""
    return _Kernel(spec).generate()
