"""A small functional PTX interpreter for the cuda target's generated kernels.

It runs the *PTX that the NVPTX backend produced* on the CPU, so the tests
check the whole generated kernel - index arithmetic, the split-K loop and
its prefetch queue, masks, the block reduction, stores - with no GPU.
It implements the subset of PTX that kvc's GEMV kernels use (integer and
bit ops, f32 / f16x2 arithmetic, conversions, ``prmt``, predicated branches,
``ld`` / ``st`` in the global, shared and param spaces, full-warp
``shfl.sync.idx``, ``bar.sync`` and
``mma.sync.aligned.m16n8k16`` with f16 / bf16 inputs, ``griddepcontrol``)
and raises :class:`PtxSimError` on anything else, never guessing. In a
kernel that has ``griddepcontrol.wait`` it also refuses a coherent global
load or a global store before the wait (data an earlier programmatic-
dependent grid may still be writing or reading).

Execution model: a warp's 32 lanes run in lockstep on numpy vectors; lanes
carry their own program counters and the lowest pending PC runs next
(reconverges structured control flow); ``mma.sync`` requires all 32 lanes;
``bar.sync`` waits for every warp of the block. Floating point: f16 / f32
results are rounded once from an exact (float64) result, as the hardware
does for fma / add / mul on these sizes; MMA products are exact and sums are
rounded to f32 at the end (the hardware's internal order may differ by ulps).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

LANES = 32
_M32 = np.uint64(0xFFFFFFFF)


class PtxSimError(RuntimeError):
    pass


# ------------------------------------------------------------------ memory
class Memory:
    """Global memory: numpy buffers at fake device addresses."""

    def __init__(self):
        self.bases: list[int] = []
        self.bufs: list[np.ndarray] = []
        self._next = 0x10000000

    def alloc(self, data) -> int:
        arr = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8).copy()
        base = self._next
        self._next += ((arr.size + 0xFFFF) // 0x10000 + 1) * 0x10000
        self.bases.append(base)
        self.bufs.append(arr)
        return base

    def buffer(self, base: int) -> np.ndarray:
        return self.bufs[self.bases.index(base)]

    def _locate(self, addr: np.ndarray, n: int):
        bases = np.array(self.bases, dtype=np.uint64)
        i = np.searchsorted(bases, addr, side="right") - 1
        if np.any(i < 0):
            raise PtxSimError(f"global access below every buffer: {hex(int(addr.min()))}")
        out = []
        for bi in np.unique(i):
            sel = i == bi
            off = (addr[sel] - bases[bi]).astype(np.int64)
            if np.any(off + n > self.bufs[bi].size):
                raise PtxSimError(f"out-of-bounds global access: offset {int(off.max())}+{n} > {self.bufs[bi].size}")
            out.append((self.bufs[bi], sel, off))
        return out

    def load(self, addr, n: int) -> np.ndarray:
        res = np.zeros((addr.size, n), dtype=np.uint8)
        for buf, sel, off in self._locate(addr, n):
            res[sel] = buf[off[:, None] + np.arange(n)]
        return res

    def store(self, addr, data: np.ndarray):
        n = data.shape[1]
        for buf, sel, off in self._locate(addr, n):
            buf[off[:, None] + np.arange(n)] = data[sel]


def _bytes_to_int(b: np.ndarray) -> np.ndarray:
    n = b.shape[1]
    out = np.zeros(b.shape[0], dtype=np.uint64)
    for i in range(n):
        out |= b[:, i].astype(np.uint64) << np.uint64(8 * i)
    return out


def _int_to_bytes(v: np.ndarray, n: int) -> np.ndarray:
    v = v.astype(np.uint64)
    return np.stack([((v >> np.uint64(8 * i)) & np.uint64(0xFF)).astype(np.uint8) for i in range(n)], axis=1)


# ------------------------------------------------------------------ values
_WIDTH = {"b8": 8, "u8": 8, "s8": 8, "b16": 16, "u16": 16, "s16": 16, "f16": 16, "bf16": 16,
          "b32": 32, "u32": 32, "s32": 32, "f32": 32, "f16x2": 32, "bf16x2": 32,
          "b64": 64, "u64": 64, "s64": 64, "f64": 64, "pred": 1}


def _mask(w):
    return np.uint64((1 << w) - 1) if w < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)


def _signed(v, w):
    v = v.astype(np.uint64) & _mask(w)
    s = v.astype(np.int64) if w == 64 else v.astype(np.int64)
    if w < 64:
        s = np.where(s >= (1 << (w - 1)), s - (1 << w), s)
    return s


def _f32(v):
    return (v.astype(np.uint64) & _M32).astype(np.uint32).view(np.float32).astype(np.float64)


def _from_f32(x):
    return np.asarray(x, dtype=np.float64).astype(np.float32).view(np.uint32).astype(np.uint64)


def _f16(v):
    return (v.astype(np.uint64) & np.uint64(0xFFFF)).astype(np.uint16).view(np.float16).astype(np.float64)


def _from_f16(x):
    return np.asarray(x, dtype=np.float64).astype(np.float16).view(np.uint16).astype(np.uint64)


def _bf16(v):
    return ((v.astype(np.uint64) & np.uint64(0xFFFF)) << np.uint64(16)).astype(np.uint32).view(np.float32).astype(np.float64)


def _from_bf16(x):
    b = np.asarray(x, dtype=np.float64).astype(np.float32).view(np.uint32).astype(np.uint64)
    b = (b + np.uint64(0x7FFF) + ((b >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16)
    return b & np.uint64(0xFFFF)


def _lanes16(v):
    v = v.astype(np.uint64)
    return v & np.uint64(0xFFFF), (v >> np.uint64(16)) & np.uint64(0xFFFF)


# ------------------------------------------------------------------ parsing
@dataclass
class Ins:
    text: str
    op: str  # e.g. "fma.rn.f16x2"
    args: list
    pred: str | None = None
    neg: bool = False


_INS = re.compile(r"^(@(!?)(%\w+)\s+)?([a-z][\w.:]*)\s*(.*?);?$")


def _split_args(s: str) -> list:
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


class Kernel:
    """One parsed .entry."""

    def __init__(self, ptx: str, name: str | None = None):
        text = re.sub(r"//[^\n]*", "", ptx)
        m = re.search(r"\.entry\s+(\w+)\s*\((.*?)\)(.*?)\{(.*)\}", text, re.S)
        if not m:
            raise PtxSimError("no .entry in PTX")
        self.name = m.group(1)
        if name and name != self.name:
            raise PtxSimError(f"PTX entry is {self.name}, not {name}")
        self.params = [p.split()[-1] for p in m.group(2).split(",") if p.strip()]
        body = m.group(4)
        # programmatic dependent launch: coherent global loads and global stores
        # (x, y: what an earlier grid may write or read) must follow griddepcontrol.wait
        self.grid_wait = "griddepcontrol.wait" in body
        self.shared: dict[str, tuple[int, int]] = {}
        off = 0
        for sm in re.finditer(r"\.shared\s+\.align\s+(\d+)\s+\.b8\s+(\w+)\[(\d+)\]", body):
            al, nm, sz = int(sm.group(1)), sm.group(2), int(sm.group(3))
            off = (off + al - 1) // al * al
            self.shared[nm] = (off, sz)
            off += sz
        self.shared_size = off
        self.prog: list[Ins] = []
        self.labels: dict[str, int] = {}
        buf = ""
        for raw in body.split("\n"):
            line = raw.strip()
            if not buf:
                if not line or line in ("{", "}") or line.startswith((".reg", ".shared", ".maxntid", ".reqntid",
                                                                        ".minnctapersm", ".maxnreg", ".pragma")):
                    continue
                if line.startswith(".local"):
                    raise PtxSimError("local memory (.local) is not supported by the simulator")
                if re.match(r"^[\w$]+:$", line):
                    self.labels[line[:-1]] = len(self.prog)
                    continue
            buf = (buf + " " + line).strip() if buf else line
            if buf.endswith(";"):
                self.prog.append(self._parse(buf))
                buf = ""

    @staticmethod
    def _parse(s: str) -> Ins:
        s = s.rstrip(";").strip()
        m = _INS.match(s)
        if not m:
            raise PtxSimError(f"cannot parse: {s}")
        return Ins(s, m.group(4), _split_args(m.group(5)), m.group(3), m.group(2) == "!")


# ------------------------------------------------------------------ execution
class _Warp:
    def __init__(self, wid, block):
        self.wid = wid
        self.block = block
        self.regs: dict[str, np.ndarray] = {}
        self.pc = np.zeros(LANES, dtype=np.int64)
        self.done = np.zeros(LANES, dtype=bool)


class Simulator:
    def __init__(self, kernel: Kernel, mem: Memory):
        self.k = kernel
        self.mem = mem
        self.steps = 0

    # -- operands --------------------------------------------------------------
    def _special(self, w: _Warp, name: str):
        lane = np.arange(LANES, dtype=np.uint64)
        tid = np.uint64(w.wid * LANES) + lane
        table = {"%tid.x": tid, "%tid.y": 0, "%tid.z": 0, "%ntid.x": self.block_dim, "%ntid.y": 1, "%ntid.z": 1,
                 "%ctaid.x": self.ctaid, "%ctaid.y": 0, "%ctaid.z": 0, "%nctaid.x": self.grid_dim,
                 "%nctaid.y": 1, "%nctaid.z": 1, "%laneid": lane, "%warpid": w.wid}
        if name not in table:
            raise PtxSimError(f"special register {name} not supported")
        return np.broadcast_to(np.asarray(table[name], dtype=np.uint64), (LANES,)).copy()

    def val(self, w: _Warp, a: str, width: int = 64) -> np.ndarray:
        a = a.strip()
        if a.startswith("%") and "." in a:
            return self._special(w, a)
        if a.startswith("%"):
            if a not in w.regs:
                raise PtxSimError(f"read of unwritten register {a}")
            return w.regs[a] & _mask(width)
        if a.startswith("0f") or a.startswith("0F"):
            return np.full(LANES, int(a[2:], 16), dtype=np.uint64)
        if a.startswith("0d") or a.startswith("0D"):
            return np.full(LANES, int(a[2:], 16), dtype=np.uint64)
        if a in self.k.shared:
            return np.full(LANES, self.k.shared[a][0], dtype=np.uint64)
        try:
            v = int(a[:-1] if a.endswith(("U", "u")) else a, 0)
        except ValueError:
            raise PtxSimError(f"operand {a!r} not understood") from None
        return np.full(LANES, v & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)

    def put(self, w: _Warp, dst: str, v, mask):
        v = np.asarray(v)
        if dst == "_":
            return
        old = w.regs.get(dst, np.zeros(LANES, dtype=np.uint64))
        if v.dtype == bool:
            v = v.astype(np.uint64)
        w.regs[dst] = np.where(mask, np.broadcast_to(v.astype(np.uint64), (LANES,)), old)

    def addr(self, w: _Warp, a: str):
        m = re.match(r"^\[\s*([%\w$]+)\s*(?:\+\s*(-?\w+))?\s*\]$", a)
        if not m:
            raise PtxSimError(f"address {a!r} not understood")
        base = m.group(1)
        off = int(m.group(2), 0) if m.group(2) else 0
        if base in self.k.params:
            return base, off
        b = self.val(w, base)
        return (b + np.uint64(off & 0xFFFFFFFFFFFFFFFF)) & _mask(64), None

    # -- run -------------------------------------------------------------------
    def run(self, grid: int, block: int, args: list[int], max_steps: int = 50_000_000):
        if len(args) != len(self.k.params):
            raise PtxSimError(f"{self.k.name} takes {len(self.k.params)} parameters, got {len(args)}")
        self.param_vals = dict(zip(self.k.params, args))
        self.grid_dim, self.block_dim = grid, block
        if block % LANES:
            raise PtxSimError("block size must be a multiple of 32")
        for b in range(grid):
            self.ctaid = b
            self.shared = np.zeros(max(self.k.shared_size, 1), dtype=np.uint8)
            warps = [_Warp(i, b) for i in range(block // LANES)]
            while not all(w.done.all() for w in warps):
                at_bar = []
                for w in warps:
                    at_bar.append(self._run_warp(w, max_steps))
                if any(at_bar):
                    if not all(at_bar[i] or warps[i].done.all() for i in range(len(warps))):
                        raise PtxSimError("bar.sync reached by some warps while others exited")
                    for w in warps:
                        if not w.done.all():
                            w.pc[~w.done] += 1

    def _run_warp(self, w: _Warp, max_steps) -> bool:
        """Run until the warp exits (False) or all its live lanes wait at bar.sync (True)."""
        prog = self.k.prog
        while True:
            live = ~w.done
            if not live.any():
                return False
            cur = int(w.pc[live].min())
            lanes = live & (w.pc == cur)
            ins = prog[cur]
            if ins.op.startswith("bar.sync") or ins.op.startswith("barrier.sync"):
                if not np.array_equal(lanes, live):
                    raise PtxSimError(f"divergent bar.sync at {ins.text}")
                return True
            self.steps += 1
            if self.steps > max_steps:
                raise PtxSimError("step limit exceeded")
            mask = lanes.copy()
            if ins.pred:
                p = self.val(w, ins.pred).astype(bool)
                mask &= ~p if ins.neg else p
            taken = self._exec(w, ins, mask, lanes)
            if taken is not None:
                w.pc[lanes & taken[0]] = taken[1]
                w.pc[lanes & ~taken[0]] += 1
            else:
                w.pc[lanes] += 1

    # -- instructions ----------------------------------------------------------
    def _exec(self, w: _Warp, ins: Ins, mask, lanes):
        op, a = ins.op, ins.args
        parts = op.split(".")
        base = parts[0]
        ty = parts[-1]
        if base in ("bra",):
            target = self.k.labels[a[0]]
            return mask, target
        if base == "ret" or base == "exit":
            w.done |= mask
            return None
        if base == "mma":
            return self._mma(w, ins, mask, lanes)
        if base == "prefetch":
            where, _ = self.addr(w, a[0])
            idx = np.nonzero(mask)[0]
            if idx.size:
                self.mem.load(where[idx], 1)  # a prefetch of an unmapped address is a bug here too
            return None
        if base == "griddepcontrol":
            # launch_dependents / wait: grid-to-grid ordering of programmatic
            # dependent launches; one grid runs here, so there is nothing to wait for
            if parts[1:] not in (["launch_dependents"], ["wait"]):
                raise PtxSimError(f"instruction not supported: {ins.text}")
            if parts[1] == "wait":
                w.grid_waited = True
            return None
        if base == "shfl":
            return self._shfl(w, ins, mask)
        if base == "ld":
            return self._ld(w, ins, mask)
        if base == "st":
            return self._st(w, ins, mask)
        fn = getattr(self, "_op_" + base, None)
        if fn is None:
            raise PtxSimError(f"instruction not supported: {ins.text}")
        fn(w, ins, mask, parts, a, ty)
        return None

    def _shfl(self, w, ins, mask):
        """``shfl.sync.idx.b32 d, a, lane, 31, 0xffffffff``: the full-warp
        indexed form only (every lane of the warp converged)."""
        parts = ins.op.split(".")
        a = ins.args
        if parts[1:] != ["sync", "idx", "b32"] or len(a) != 5 or "|" in a[0]:
            raise PtxSimError(f"instruction not supported: {ins.text}")
        if int(self.val(w, a[3], 32)[0]) != 31 or int(self.val(w, a[4], 32)[0]) & 0xFFFFFFFF != 0xFFFFFFFF:
            raise PtxSimError(f"{ins.text}: only the full-warp form (clamp 31, member mask all lanes) is supported")
        if not mask.all():
            raise PtxSimError(f"{ins.text}: lanes {np.nonzero(~mask)[0].tolist()} not converged at a full-warp shuffle")
        src = self.val(w, a[1], 32)
        idx = self.val(w, a[2], 32)
        if np.any(idx > 31):
            raise PtxSimError(f"{ins.text}: source lane {int(idx.max())} > 31")
        self.put(w, a[0], src[idx.astype(np.int64)], mask)
        return None

    def _dependency_check(self, w, ins):
        if self.k.grid_wait and not getattr(w, "grid_waited", False):
            raise PtxSimError(f"{ins.text}: global access before griddepcontrol.wait "
                              "(data an earlier programmatic-dependent grid may still be writing)")

    def _ld(self, w, ins, mask):
        parts = ins.op.split(".")
        space = parts[1]
        vec = next((int(p[1:]) for p in parts if p in ("v2", "v4", "v8")), 1)
        ty = parts[-1]
        nb = _WIDTH[ty] // 8
        dsts = [d.strip() for d in ins.args[0].strip("{}").split(",")] if ins.args[0].startswith("{") else [ins.args[0]]
        where, off = self.addr(w, ins.args[1])
        if space == "param":
            v = self.param_vals[where]
            for d in dsts:
                self.put(w, d, np.full(LANES, v & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64), mask)
            return None
        idx = np.nonzero(mask)[0]
        if idx.size == 0:
            return None
        ad = where[idx]
        if np.any(ad % np.uint64(nb * vec)):
            raise PtxSimError(f"misaligned {ins.op} at {hex(int(ad[0]))}")
        if space == "global" or space == "global.nc":
            if "nc" not in parts:
                self._dependency_check(w, ins)
            data = self.mem.load(ad, nb * vec)
        elif space == "shared":
            o = ad.astype(np.int64)
            if np.any(o + nb * vec > self.shared.size):
                raise PtxSimError("out-of-bounds shared load")
            data = self.shared[o[:, None] + np.arange(nb * vec)]
        else:
            raise PtxSimError(f"state space {space} not supported")
        for i, d in enumerate(dsts):
            full = np.zeros(LANES, dtype=np.uint64)
            full[idx] = _bytes_to_int(data[:, i * nb:(i + 1) * nb])
            self.put(w, d, full, mask)
        return None

    def _st(self, w, ins, mask):
        parts = ins.op.split(".")
        space = parts[1]
        vec = next((int(p[1:]) for p in parts if p in ("v2", "v4")), 1)
        ty = parts[-1]
        nb = _WIDTH[ty] // 8
        srcs = [s.strip() for s in ins.args[1].strip("{}").split(",")] if ins.args[1].startswith("{") else [ins.args[1]]
        where, _ = self.addr(w, ins.args[0])
        idx = np.nonzero(mask)[0]
        if idx.size == 0:
            return None
        ad = where[idx]
        if np.any(ad % np.uint64(nb * vec)):
            raise PtxSimError(f"misaligned {ins.op}")
        data = np.concatenate([_int_to_bytes(self.val(w, s, _WIDTH[ty])[idx], nb) for s in srcs], axis=1)
        if space == "global":
            self._dependency_check(w, ins)
            self.mem.store(ad, data)
        elif space == "shared":
            o = ad.astype(np.int64)
            if np.any(o + nb * vec > self.shared.size):
                raise PtxSimError("out-of-bounds shared store")
            self.shared[o[:, None] + np.arange(nb * vec)] = data
        else:
            raise PtxSimError(f"state space {space} not supported")
        return None

    def _mma(self, w, ins, mask, lanes):
        if not mask.all():
            raise PtxSimError("mma.sync with inactive lanes")
        op = ins.op
        if ".m16n8k16.row.col.f32." not in op or not op.endswith(".f32"):
            raise PtxSimError(f"mma variant not supported: {op}")
        dt = op.split(".")[-3]  # f16 or bf16
        conv = _f16 if dt == "f16" else _bf16
        regs = [[r.strip() for r in grp.strip("{}").split(",")] for grp in ins.args]
        d, ar, br, cr = regs
        lane = np.arange(LANES)
        g, t = lane >> 2, lane & 3
        A = np.zeros((16, 16))
        B = np.zeros((16, 8))
        C = np.zeros((16, 8))
        for i in range(4):
            lo, hi = _lanes16(self.val(w, ar[i], 32))
            row = g + 8 * (i & 1)
            col = 2 * t + 8 * (i >> 1)
            A[row, col] = conv(lo)
            A[row, col + 1] = conv(hi)
        for i in range(2):
            lo, hi = _lanes16(self.val(w, br[i], 32))
            B[2 * t + 8 * i, g] = conv(lo)
            B[2 * t + 8 * i + 1, g] = conv(hi)
        for i in range(4):
            C[g + 8 * (i >> 1), 2 * t + (i & 1)] = _f32(self.val(w, cr[i], 32))
        D = (A @ B + C).astype(np.float32).astype(np.float64)
        for i in range(4):
            self.put(w, d[i], _from_f32(D[g + 8 * (i >> 1), 2 * t + (i & 1)]), mask)
        return None

    # integer / bit ops -----------------------------------------------------------
    def _int_bin(self, w, a, mask, ty, f):
        wd = _WIDTH[ty]
        x, y = self.val(w, a[1], wd), self.val(w, a[2], wd)
        if ty.startswith("s"):
            r = f(_signed(x, wd), _signed(y, wd)).astype(np.int64).astype(np.uint64)
        else:
            r = f(x, y)
        self.put(w, a[0], np.asarray(r).astype(np.uint64) & _mask(wd), mask)

    def _op_and(self, w, ins, mask, parts, a, ty):
        if ty == "pred":
            self.put(w, a[0], self.val(w, a[1]).astype(bool) & self.val(w, a[2]).astype(bool), mask)
        else:
            self._int_bin(w, a, mask, ty, lambda x, y: x & y)

    def _op_or(self, w, ins, mask, parts, a, ty):
        if ty == "pred":
            self.put(w, a[0], self.val(w, a[1]).astype(bool) | self.val(w, a[2]).astype(bool), mask)
        else:
            self._int_bin(w, a, mask, ty, lambda x, y: x | y)

    def _op_xor(self, w, ins, mask, parts, a, ty):
        if ty == "pred":
            self.put(w, a[0], self.val(w, a[1]).astype(bool) ^ self.val(w, a[2]).astype(bool), mask)
        else:
            self._int_bin(w, a, mask, ty, lambda x, y: x ^ y)

    def _op_not(self, w, ins, mask, parts, a, ty):
        if ty == "pred":
            self.put(w, a[0], ~self.val(w, a[1]).astype(bool), mask)
        else:
            self.put(w, a[0], ~self.val(w, a[1], _WIDTH[ty]) & _mask(_WIDTH[ty]), mask)

    def _op_shl(self, w, ins, mask, parts, a, ty):
        wd = _WIDTH[ty]
        x, s = self.val(w, a[1], wd), self.val(w, a[2], 32)
        r = np.where(s >= wd, np.uint64(0), (x << np.minimum(s, np.uint64(63))) & _mask(wd))
        self.put(w, a[0], r, mask)

    def _op_shr(self, w, ins, mask, parts, a, ty):
        wd = _WIDTH[ty]
        x, s = self.val(w, a[1], wd), self.val(w, a[2], 32)
        if ty.startswith("s"):
            r = (_signed(x, wd) >> np.minimum(s, np.uint64(wd - 1)).astype(np.int64)).astype(np.uint64) & _mask(wd)
        else:
            r = np.where(s >= wd, np.uint64(0), x >> np.minimum(s, np.uint64(63)))
        self.put(w, a[0], r, mask)

    def _op_add(self, w, ins, mask, parts, a, ty):
        if ty in ("f32", "f16x2", "bf16x2", "f16"):
            return self._float(w, parts, a, mask, lambda x, y: x + y)
        self._int_bin(w, a, mask, ty, lambda x, y: x + y)

    def _op_sub(self, w, ins, mask, parts, a, ty):
        if ty in ("f32", "f16x2", "f16"):
            return self._float(w, parts, a, mask, lambda x, y: x - y)
        self._int_bin(w, a, mask, ty, lambda x, y: x - y)

    def _op_mul(self, w, ins, mask, parts, a, ty):
        if ty in ("f32", "f16x2", "f16"):
            return self._float(w, parts, a, mask, lambda x, y: x * y)
        mode = parts[1]
        wd = _WIDTH[ty]
        x, y = self.val(w, a[1], wd), self.val(w, a[2], wd)
        if ty.startswith("s"):
            x, y = _signed(x, wd), _signed(y, wd)
        if mode == "wide":
            r = (x.astype(np.int64) * y.astype(np.int64)).astype(np.uint64) if ty.startswith("s") else x * y
            self.put(w, a[0], r, mask)
        elif mode == "lo":
            r = (np.asarray(x).astype(np.uint64) * np.asarray(y).astype(np.uint64)) & _mask(wd)
            self.put(w, a[0], r, mask)
        elif mode == "hi" and wd == 32:
            r = ((x.astype(np.uint64) * y.astype(np.uint64)) >> np.uint64(32)) & _M32
            self.put(w, a[0], r, mask)
        else:
            raise PtxSimError(f"not supported: {ins.text}")

    def _op_mad(self, w, ins, mask, parts, a, ty):
        wd = _WIDTH[ty]
        x, y, z = self.val(w, a[1], wd), self.val(w, a[2], wd), self.val(w, a[3], wd)
        if parts[1] == "lo":
            self.put(w, a[0], (x * y + z) & _mask(wd), mask)
        elif parts[1] == "wide" and ty in ("u32", "s32"):
            if ty == "s32":
                r = (_signed(x, 32) * _signed(y, 32)).astype(np.uint64) + self.val(w, a[3], 64)
            else:
                r = x * y + self.val(w, a[3], 64)
            self.put(w, a[0], r & _mask(64), mask)
        else:
            raise PtxSimError(f"not supported: {ins.text}")

    def _op_min(self, w, ins, mask, parts, a, ty):
        if ty == "f32":
            return self._float(w, parts, a, mask, np.minimum)
        self._int_bin(w, a, mask, ty, np.minimum)

    def _op_max(self, w, ins, mask, parts, a, ty):
        if ty == "f32":
            return self._float(w, parts, a, mask, np.maximum)
        self._int_bin(w, a, mask, ty, np.maximum)

    def _op_div(self, w, ins, mask, parts, a, ty):
        if ty not in ("u32", "u64"):
            raise PtxSimError(f"not supported: {ins.text}")
        self._int_bin(w, a, mask, ty, lambda x, y: x // np.maximum(y, np.uint64(1)))

    def _op_rem(self, w, ins, mask, parts, a, ty):
        if ty not in ("u32", "u64"):
            raise PtxSimError(f"not supported: {ins.text}")
        self._int_bin(w, a, mask, ty, lambda x, y: x % np.maximum(y, np.uint64(1)))

    def _op_neg(self, w, ins, mask, parts, a, ty):
        if ty == "f32":
            self.put(w, a[0], self.val(w, a[1], 32) ^ np.uint64(0x80000000), mask)
        elif ty in ("s32", "s64"):
            wd = _WIDTH[ty]
            self.put(w, a[0], (-_signed(self.val(w, a[1], wd), wd)).astype(np.uint64) & _mask(wd), mask)
        else:
            raise PtxSimError(f"not supported: {ins.text}")

    def _op_mov(self, w, ins, mask, parts, a, ty):
        d, s = a[0], a[1]
        if d.startswith("{"):  # unpack
            ds = [x.strip() for x in d.strip("{}").split(",")]
            v = self.val(w, s, _WIDTH[ty])
            nb = _WIDTH[ty] // len(ds)
            for i, x in enumerate(ds):
                self.put(w, x, (v >> np.uint64(nb * i)) & _mask(nb), mask)
        elif s.startswith("{"):  # pack
            ss = [x.strip() for x in s.strip("{}").split(",")]
            nb = _WIDTH[ty] // len(ss)
            v = np.zeros(LANES, dtype=np.uint64)
            for i, x in enumerate(ss):
                v |= (self.val(w, x, nb) & _mask(nb)) << np.uint64(nb * i)
            self.put(w, d, v, mask)
        else:
            self.put(w, d, self.val(w, s, _WIDTH.get(ty, 64)), mask)

    def _op_setp(self, w, ins, mask, parts, a, ty):
        cmp = parts[1]
        wd = _WIDTH[ty]
        x, y = self.val(w, a[1], wd), self.val(w, a[2], wd)
        if ty.startswith("s"):
            x, y = _signed(x, wd), _signed(y, wd)
        elif ty == "f32":
            x, y = _f32(x), _f32(y)
        r = {"lt": x < y, "le": x <= y, "gt": x > y, "ge": x >= y, "eq": x == y, "ne": x != y,
             "lo": x < y, "ls": x <= y, "hi": x > y, "hs": x >= y}[cmp]
        if "|" in a[0]:
            raise PtxSimError(f"not supported: {ins.text}")
        self.put(w, a[0], r, mask)

    def _op_selp(self, w, ins, mask, parts, a, ty):
        p = self.val(w, a[3]).astype(bool)
        self.put(w, a[0], np.where(p, self.val(w, a[1], _WIDTH[ty]), self.val(w, a[2], _WIDTH[ty])), mask)

    def _op_bfe(self, w, ins, mask, parts, a, ty):
        wd = _WIDTH[ty]
        x, pos, ln = self.val(w, a[1], wd), self.val(w, a[2], 32), self.val(w, a[3], 32)
        if ty.startswith("s"):
            raise PtxSimError(f"not supported: {ins.text}")
        r = (x >> np.minimum(pos, np.uint64(63))) & ((np.uint64(1) << np.minimum(ln, np.uint64(63))) - np.uint64(1))
        self.put(w, a[0], r, mask)

    def _op_prmt(self, w, ins, mask, parts, a, ty):
        if len(parts) != 2:
            raise PtxSimError(f"prmt mode not supported: {ins.text}")
        x, y, s = self.val(w, a[1], 32), self.val(w, a[2], 32), self.val(w, a[3], 32)
        pool = [(x >> np.uint64(8 * i)) & np.uint64(0xFF) for i in range(4)] + \
               [(y >> np.uint64(8 * i)) & np.uint64(0xFF) for i in range(4)]
        pool = np.stack(pool, axis=1)
        r = np.zeros(LANES, dtype=np.uint64)
        for i in range(4):
            nib = (s >> np.uint64(4 * i)) & np.uint64(0xF)
            byte = pool[np.arange(LANES), (nib & np.uint64(7)).astype(np.int64)]
            byte = np.where(nib & np.uint64(8), np.where(byte & np.uint64(0x80), np.uint64(0xFF), np.uint64(0)), byte)
            r |= byte << np.uint64(8 * i)
        self.put(w, a[0], r, mask)

    # floating point --------------------------------------------------------------
    def _float(self, w, parts, a, mask, f, nargs=2):
        ty = parts[-1]
        vals = [self.val(w, x, 32 if ty != "f16" else 16) for x in a[1:1 + nargs]]
        if "ftz" in parts or "sat" in parts:
            raise PtxSimError(f"modifiers not supported: {'.'.join(parts)}")
        if ty == "f32":
            self.put(w, a[0], _from_f32(f(*[_f32(v) for v in vals])), mask)
        elif ty == "f16":
            self.put(w, a[0], _from_f16(f(*[_f16(v) for v in vals])), mask)
        elif ty in ("f16x2", "bf16x2"):
            cv, back = (_f16, _from_f16) if ty == "f16x2" else (_bf16, _from_bf16)
            lo = [cv(_lanes16(v)[0]) for v in vals]
            hi = [cv(_lanes16(v)[1]) for v in vals]
            self.put(w, a[0], back(f(*lo)) | (back(f(*hi)) << np.uint64(16)), mask)
        else:
            raise PtxSimError(f"float type {ty} not supported")

    def _op_fma(self, w, ins, mask, parts, a, ty):
        self._float(w, parts, a, mask, lambda x, y, z: x * y + z, nargs=3)

    def _op_cvt(self, w, ins, mask, parts, a, ty):
        mods = parts[1:]
        dst, src = mods[-2], mods[-1]
        if dst == "bf16x2" and src == "f32":
            hi, lo = _f32(self.val(w, a[1], 32)), _f32(self.val(w, a[2], 32))
            self.put(w, a[0], _from_bf16(lo) | (_from_bf16(hi) << np.uint64(16)), mask)
            return
        if dst == "f16x2" and src == "f32":
            hi, lo = _f32(self.val(w, a[1], 32)), _f32(self.val(w, a[2], 32))
            self.put(w, a[0], _from_f16(lo) | (_from_f16(hi) << np.uint64(16)), mask)
            return
        v = self.val(w, a[1], _WIDTH[src])
        if src == "f16":
            x = _f16(v)
        elif src == "bf16":
            x = _bf16(v)
        elif src == "f32":
            x = _f32(v)
        elif src in ("u32", "u64", "u16", "s32", "s64", "s16"):
            x = _signed(v, _WIDTH[src]) if src.startswith("s") else v
        else:
            raise PtxSimError(f"cvt not supported: {ins.text}")
        if dst == "f32":
            self.put(w, a[0], _from_f32(np.asarray(x, dtype=np.float64)), mask)
        elif dst == "f16":
            self.put(w, a[0], _from_f16(x), mask)
        elif dst == "bf16":
            self.put(w, a[0], _from_bf16(x), mask)
        elif dst in ("u32", "u64", "s64", "s32", "u16", "b32"):
            if src.startswith("f"):
                raise PtxSimError(f"cvt not supported: {ins.text}")
            self.put(w, a[0], np.asarray(x).astype(np.int64).astype(np.uint64) & _mask(_WIDTH[dst]), mask)
        else:
            raise PtxSimError(f"cvt not supported: {ins.text}")


def run_kernel(ptx: str, name: str, grid: int, block: int, buffers: list, ints: list[int] = ()):
    """Run ``name`` with global buffers (numpy arrays, copied in; returned after the run)
    as its pointer parameters followed by integer parameters ``ints``."""
    k = Kernel(ptx, name)
    mem = Memory()
    bases = [mem.alloc(b) for b in buffers]
    sim = Simulator(k, mem)
    sim.run(grid, block, bases + list(ints))
    return [mem.buffer(b).view(np.asarray(buf).dtype).reshape(np.asarray(buf).shape) for b, buf in zip(bases, buffers)], sim.steps
