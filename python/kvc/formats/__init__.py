"""kvc.formats: exact reference numerics for kvc's low-bit formats (pure numpy).

    >>> from kvc import formats
    >>> fmt = formats.get("razer4:g128")
    >>> qt = fmt.quantize(w)            # w: (N, K) float array
    >>> w_hat = qt.dequantize()         # float32, scale * (decode(code) - zero)
    >>> packed = qt.pack()              # pinned bit-stream layout, packed.nbytes

Definitions, code layouts, quantizer rules and the packing layout are in
docs/formats.md. This package imports nothing from MLIR.
"""

from __future__ import annotations

import numpy as np

from .core import FAMILIES, Format, PackedTensor, QuantizedTensor
from .core import quantize as _quantize
from .packing import pack_codes, packed_len, unpack_codes
from .registry import FAMILY_HELP, get, names
from .tables import RAZER_SPECIAL_VALUES, RAZER_SV_CODE


def quantize(fmt, x, group_size=None, axis=-1, method="rtn", scale_dtype=np.float16) -> QuantizedTensor:
    """``get(fmt).quantize(...)``; ``fmt`` is a Format or a name such as ``"razer4:g128"``."""
    return _quantize(get(fmt), x, group_size=group_size, axis=axis, method=method, scale_dtype=scale_dtype)


def dequantize(qt: QuantizedTensor) -> np.ndarray:
    return qt.dequantize()


def unpack(packed: PackedTensor) -> QuantizedTensor:
    """Restore a QuantizedTensor from :meth:`QuantizedTensor.pack` output."""
    return QuantizedTensor.unpack(packed)


def reference_matmul(x, qt: QuantizedTensor) -> np.ndarray:
    """``x @ W^T`` with W = qt.dequantize(), an (N, K) weight quantized along its last axis.

    Computed in float32 (x is converted), result shape x.shape[:-1] + (N,).
    """
    if len(qt.shape) != 2 or qt.axis != 1:
        raise ValueError("reference_matmul expects an (N, K) weight quantized along axis -1")
    w = qt.dequantize()
    return np.asarray(x, dtype=np.float32) @ w.T


__all__ = [
    "FAMILIES", "FAMILY_HELP", "Format", "PackedTensor", "QuantizedTensor",
    "RAZER_SPECIAL_VALUES", "RAZER_SV_CODE",
    "dequantize", "get", "names", "pack_codes", "packed_len", "quantize",
    "reference_matmul", "unpack", "unpack_codes",
]
