"""Format objects, QuantizedTensor and its packed form.

Dequantization contract (pinned; kernels reproduce it exactly):

    value = scale_g * (decode(code) - zero_g)        all in float32

with scale_g / zero_g the stored ``scale_dtype`` values converted to float32,
zero_g = 0 when ``zeros`` is None, decode(code) = table[code], and for RaZeR
decode = E2M1 table with code 0b1000 replaced by SV[meta_g],
SV = (+5, +8, -5, -8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import tables
from .packing import pack_codes, packed_len, unpack_codes
from .quant import FloatSpec, Scheme, quantize_groups

FAMILIES = ("int", "uint", "float", "razer", "bipolar")


# ---------------------------------------------------------------------------
# Format objects
# ---------------------------------------------------------------------------


class Format:
    """A low-bit number format. Build with :func:`kvc.formats.get`."""

    family: str = ""

    def __init__(self, name: str, bits: int, default_group_size: int | None = None):
        self.name = name
        self.bits = int(bits)
        self.default_group_size = default_group_size
        self._scheme: Scheme | None = None
        self._table = self._make_table()
        self._table.setflags(write=False)

    # -- identity -----------------------------------------------------------
    @property
    def spec(self) -> str:
        """Name with the group-size suffix, e.g. ``razer4:g128``."""
        g = self.default_group_size
        return self.name if g is None else f"{self.name}:g{g}"

    def __repr__(self) -> str:
        return f"kvc.formats.get({self.spec!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Format) and other.spec == self.spec

    def __hash__(self) -> int:
        return hash(self.spec)

    # -- values -------------------------------------------------------------
    def _make_table(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def table(self, special_value=None) -> np.ndarray:
        """float64 value of every code (NaN: not a number; +-inf: inf codes)."""
        if special_value is not None:
            raise ValueError(f"{self.name} has no special value")
        return self._table.copy()

    def decode_luts(self) -> np.ndarray:
        """(n_selectors, 2**bits) float32 decode tables (1 row except RaZeR)."""
        return self._table.astype(np.float32)[None, :]

    @property
    def max(self) -> float:
        """Largest finite value of the table."""
        t = self.table()
        return float(np.nanmax(np.where(np.isfinite(t), t, np.nan)))

    @property
    def min(self) -> float:
        t = self.table()
        return float(np.nanmin(np.where(np.isfinite(t), t, np.nan)))

    # -- quantization -------------------------------------------------------
    @property
    def scheme(self) -> Scheme:
        if self._scheme is None:
            self._scheme = self._make_scheme()
        return self._scheme

    def _make_scheme(self) -> Scheme:  # pragma: no cover - abstract
        raise NotImplementedError

    def quantize(self, x, group_size=None, axis=-1, method="rtn", scale_dtype=np.float16) -> "QuantizedTensor":
        """Quantize ``x`` in groups of ``group_size`` consecutive elements along ``axis``.

        group_size None -> the format's default (name suffix ``:gN``), else one
        group spanning the whole axis. When the axis length K is not a
        multiple of the group size, the last group holds the K % group_size
        remaining elements and is quantized on those alone.
        """
        return quantize(self, x, group_size=group_size, axis=axis, method=method, scale_dtype=scale_dtype)

    def dequantize(self, qt: "QuantizedTensor") -> np.ndarray:
        if qt.format.name != self.name:
            raise ValueError(f"tensor is {qt.format.name}, not {self.name}")
        return qt.dequantize()


class IntFormat(Format):
    family = "int"

    def _make_table(self):
        return tables.int_table(self.bits)

    def _make_scheme(self):
        return Scheme("uniform_sym", self.bits, qmin=-(1 << (self.bits - 1)), qmax=(1 << (self.bits - 1)) - 1)


class UIntFormat(Format):
    family = "uint"

    def _make_table(self):
        return tables.uint_table(self.bits)

    def _make_scheme(self):
        return Scheme("affine", self.bits, dec_a=1.0, dec_b=0.0)


class BipolarFormat(Format):
    family = "bipolar"

    def _make_table(self):
        return tables.bipolar_table(self.bits)

    def _make_scheme(self):
        return Scheme("affine", self.bits, dec_a=2.0, dec_b=-float((1 << self.bits) - 1))


class FloatFormat(Format):
    family = "float"

    def __init__(self, name, exp_bits, man_bits, default_group_size=None):
        self.exp_bits = int(exp_bits)
        self.man_bits = int(man_bits)
        # OCP FP8 E4M3FN for the 8-bit e4m3 name; every other split follows Tilus.
        self.ocp_e4m3fn = (self.exp_bits, self.man_bits) == (4, 3)
        super().__init__(name, 1 + self.exp_bits + self.man_bits, default_group_size)

    @property
    def bias(self) -> int:
        return (1 << (self.exp_bits - 1)) - 1

    def _make_table(self):
        return tables.float_table(self.exp_bits, self.man_bits, self.ocp_e4m3fn)

    def _make_scheme(self):
        vmax = float(np.nanmax(np.where(np.isfinite(self._table), self._table, np.nan)))
        return Scheme("float_sym", self.bits, fspec=FloatSpec(self.exp_bits, self.man_bits, vmax),
                      pow2_scale_floor=True)


class RazerFormat(Format):
    family = "razer"
    special_values = tables.RAZER_SPECIAL_VALUES
    sv_code = tables.RAZER_SV_CODE

    def _make_table(self):
        return tables.razer_table(None)

    def table(self, special_value=None) -> np.ndarray:
        return tables.razer_table(special_value)

    def decode_luts(self) -> np.ndarray:
        return tables.razer_luts().astype(np.float32)

    def _make_scheme(self):
        return Scheme("razer", self.bits, special_values=tuple(self.special_values))


# ---------------------------------------------------------------------------
# Quantized tensors
# ---------------------------------------------------------------------------


@dataclass
class PackedTensor:
    """Packed storage of a QuantizedTensor (what a kernel reads).

    codes: uint8, ``shape[:-1] + (ceil(shape[-1]*bits/8),)`` (pinned bit stream)
    scales / zeros: as stored (scale_dtype), shape ``QuantizedTensor.scales.shape``
    meta: RaZeR selectors packed 2 bits each along the last axis of the
    scales-shaped selector array, else None.
    """

    format: Format
    bits: int
    shape: tuple
    axis: int
    group_size: int
    codes: np.ndarray
    scales: np.ndarray
    zeros: np.ndarray | None
    meta: np.ndarray | None

    @property
    def nbytes(self) -> int:
        n = self.codes.nbytes + self.scales.nbytes
        if self.zeros is not None:
            n += self.zeros.nbytes
        if self.meta is not None:
            n += self.meta.nbytes
        return int(n)

    def unpack(self) -> "QuantizedTensor":
        return QuantizedTensor.unpack(self)


@dataclass
class QuantizedTensor:
    """Codes (one uint8 per element, raw b-bit pattern) plus group parameters."""

    codes: np.ndarray
    scales: np.ndarray
    zeros: np.ndarray | None
    meta: np.ndarray | None
    format: Format
    group_size: int
    axis: int
    shape: tuple = field(default=())

    def __post_init__(self):
        self.shape = tuple(self.codes.shape)

    @property
    def bits(self) -> int:
        return self.format.bits

    def _expand(self, a: np.ndarray) -> np.ndarray:
        """Broadcast a per-group array to per-element along ``axis``."""
        k = self.shape[self.axis]
        return np.repeat(a, self.group_size, axis=self.axis).take(np.arange(k), axis=self.axis) \
            if k % self.group_size else np.repeat(a, self.group_size, axis=self.axis)

    def decoded(self) -> np.ndarray:
        """float32 decode(code) per element (before scale / zero)."""
        luts = self.format.decode_luts()
        if luts.shape[0] == 1:
            return luts[0][self.codes]
        n = luts.shape[1]  # 16: index = selector * 16 + code fits in uint8
        idx = self.codes.copy()
        self._apply(idx, (self.meta * np.uint8(n)).astype(np.uint8), np.add)
        return luts.reshape(-1)[idx]

    def _apply(self, d: np.ndarray, per_group: np.ndarray, op) -> None:
        """In place: d = op(d, per_group broadcast along axis)."""
        k = self.shape[self.axis]
        gs = self.group_size
        nfull = k // gs
        if self.axis == d.ndim - 1 and d.flags.c_contiguous and nfull:
            lead = d.shape[:-1]
            main = d[..., : nfull * gs].reshape(*lead, nfull, gs) if nfull * gs == k else None
            if main is not None:
                op(main, per_group[..., None], out=main)
                return
        op(d, self._expand(per_group), out=d)

    def dequantize(self) -> np.ndarray:
        """float32: scale * (decode(code) - zero), per the pinned contract."""
        d = self.decoded()
        if self.zeros is not None:
            self._apply(d, self.zeros.astype(np.float32), np.subtract)
        self._apply(d, self.scales.astype(np.float32), np.multiply)
        return d

    def pack(self) -> PackedTensor:
        meta = None
        if self.format.family == "razer":
            meta = pack_codes(self.meta, 2)
        return PackedTensor(
            format=self.format,
            bits=self.bits,
            shape=self.shape,
            axis=self.axis,
            group_size=self.group_size,
            codes=pack_codes(self.codes, self.bits),
            scales=self.scales.copy(),
            zeros=None if self.zeros is None else self.zeros.copy(),
            meta=meta,
        )

    @classmethod
    def unpack(cls, p: PackedTensor) -> "QuantizedTensor":
        codes = unpack_codes(p.codes, p.bits, p.shape[-1])
        meta = None
        if p.meta is not None:
            meta = unpack_codes(p.meta, 2, p.scales.shape[-1])
        return cls(codes, p.scales.copy(), None if p.zeros is None else p.zeros.copy(), meta,
                   p.format, p.group_size, p.axis)

    @property
    def nbytes(self) -> int:
        """Exact packed size: packed codes + scales + zeros + packed selectors."""
        lead = int(np.prod(self.shape[:-1], dtype=np.int64))
        n = lead * packed_len(self.shape[-1], self.bits)
        n += self.scales.nbytes
        if self.zeros is not None:
            n += self.zeros.nbytes
        if self.format.family == "razer":
            slead = int(np.prod(self.scales.shape[:-1], dtype=np.int64))
            n += slead * packed_len(self.scales.shape[-1], 2)
        return int(n)

    @property
    def num_groups(self) -> int:
        return self.scales.shape[self.axis]


def quantize(fmt: Format, x, group_size=None, axis=-1, method="rtn", scale_dtype=np.float16) -> QuantizedTensor:
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("quantize needs at least one axis")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise ValueError("quantize: input contains inf or NaN")
    scale_dtype = np.dtype(scale_dtype)
    if scale_dtype.kind != "f":
        raise ValueError(f"scale_dtype must be a numpy float dtype, got {scale_dtype}")
    axis = int(axis) % x.ndim
    k = x.shape[axis]
    if group_size is None:
        group_size = fmt.default_group_size
    if group_size is None or group_size <= 0 or group_size > k:
        group_size = max(k, 1)
    group_size = int(group_size)
    ngroups = math.ceil(k / group_size)

    xm = np.moveaxis(x, axis, -1)
    lead = xm.shape[:-1]
    rows = int(np.prod(lead, dtype=np.int64))
    x2 = xm.reshape(rows, k)
    nfull, rem = divmod(k, group_size)
    sch = fmt.scheme

    codes = np.empty((rows, k), dtype=np.uint8)
    scales = np.empty((rows, ngroups), dtype=scale_dtype)
    zeros = np.empty((rows, ngroups), dtype=scale_dtype) if sch.kind == "affine" else None
    meta = np.zeros((rows, ngroups), dtype=np.uint8)
    parts = []
    if nfull:
        parts.append((slice(0, nfull * group_size), slice(0, nfull), nfull, group_size))
    if rem:
        parts.append((slice(nfull * group_size, k), slice(nfull, ngroups), 1, rem))
    for cs, gs, ng, g in parts:
        xg = np.ascontiguousarray(x2[:, cs]).reshape(rows * ng, g)
        c, s, z, mt = quantize_groups(sch, xg, method, scale_dtype)
        codes[:, cs] = c.reshape(rows, ng * g)
        scales[:, gs] = s.reshape(rows, ng)
        if zeros is not None:
            zeros[:, gs] = z.reshape(rows, ng)
        meta[:, gs] = mt.reshape(rows, ng)

    def back(a, last):
        return np.moveaxis(a.reshape(*lead, last), -1, axis)

    codes = np.ascontiguousarray(back(codes, k))
    scales = np.ascontiguousarray(back(scales, ngroups))
    zeros = None if zeros is None else np.ascontiguousarray(back(zeros, ngroups))
    meta = np.ascontiguousarray(back(meta, ngroups)) if fmt.family == "razer" else None
    return QuantizedTensor(codes, scales, zeros, meta, fmt, group_size, axis)
