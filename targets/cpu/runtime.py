"""Calling a JIT-compiled kvc function: memref descriptors in, numpy arrays out.

The compiled entry function has the C interface of MLIR's
``llvm.emit_c_interface``: ``_mlir_ciface_<entry>(R *results, D0 *arg0, ...)``
where every tensor argument/result is a strided memref descriptor
``{T *allocated, T *aligned, i64 offset, i64 sizes[r], i64 strides[r]}``,
``R`` is the descriptor of a single result or a struct of the descriptors of
several, and scalar arguments are passed by value.

Inputs are wrapped without copying (C-contiguous numpy arrays or CPU torch
tensors through ``.numpy()``; a non-contiguous input is made contiguous).
State arguments are never copied: the compiled code writes their new value
into the caller's array (which must be C-contiguous and writable).
Every returned buffer is a fresh ``malloc`` owned by the caller (the
bufferization pipeline guarantees it, see pipeline.py); it becomes a numpy
array without a copy and is ``free``d when that array is garbage collected.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

_LIBC = ctypes.CDLL(None)
_LIBC.free.argtypes = [ctypes.c_void_p]
_LIBC.free.restype = None
# finalize-memref-to-llvm marks buffers of memref.get_global with this pointer.
_GLOBAL_SENTINEL = 0xDEADBEEF

_SCALAR_CTYPES = {
    "f64": ctypes.c_double, "f32": ctypes.c_float,
    "i64": ctypes.c_int64, "index": ctypes.c_int64, "i32": ctypes.c_int32,
    "i16": ctypes.c_int16, "i8": ctypes.c_int8, "i1": ctypes.c_bool,
}
# numpy dtypes accepted for each element type (signless integers: either signedness).
_ACCEPTED = {
    "f64": (np.float64,), "f32": (np.float32,), "f16": (np.float16,),
    "i64": (np.int64, np.uint64), "index": (np.int64,), "i32": (np.int32, np.uint32),
    "i16": (np.int16, np.uint16), "i8": (np.int8, np.uint8), "i1": (np.bool_,),
}
_RESULT_DTYPE = {
    "f64": np.float64, "f32": np.float32, "f16": np.float16, "i64": np.int64, "index": np.int64,
    "i32": np.int32, "i16": np.int16, "i8": np.int8, "i1": np.bool_,
}


def descriptor_type(rank: int) -> type[ctypes.Structure]:
    """ctypes struct of a rank-``rank`` strided memref descriptor."""
    fields = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p), ("offset", ctypes.c_int64)]
    if rank:
        fields += [("sizes", ctypes.c_int64 * rank), ("strides", ctypes.c_int64 * rank)]
    return type(f"MemRef{rank}D", (ctypes.Structure,), {"_fields_": fields})


@dataclass(frozen=True)
class ArgSpec:
    """One argument of the compiled entry function."""

    index: int  # position in the compiled signature
    name: str  # "arg<i>" or the bound weight's name
    element: str  # MLIR element type as text ("f32", "i8", ...)
    shape: tuple[int | None, ...] | None  # None: a scalar; None entries: dynamic dims
    weight: str | None = None  # bound weight name
    codes_of: str | None = None  # lowbit format of a codes argument (one code per element)
    state: str | None = None  # state name: the caller's buffer is updated in place

    def describe(self) -> str:
        if self.shape is None:
            return self.element
        dims = "x".join("?" if d is None else str(d) for d in self.shape)
        text = f"tensor<{dims + 'x' if dims else ''}{self.element}>"
        return f"{text} (state, updated in place)" if self.state is not None else text


@dataclass(frozen=True)
class ResultSpec:
    element: str
    rank: int
    codes_of: str | None = None  # a lowbit codes result comes back as uint8
    shape: tuple[int | None, ...] | None = None  # static sizes (None: dynamic), from the tensor type


class _MallocOwner:
    """Frees a buffer the compiled code malloc'ed when the last array using it dies."""

    __slots__ = ("ptr",)

    def __init__(self, ptr: int):
        self.ptr = ptr

    def __del__(self):
        if self.ptr:
            _LIBC.free(self.ptr)
            self.ptr = 0


def to_numpy(value, spec: ArgSpec) -> np.ndarray:
    """Check and wrap one input (numpy array or CPU torch tensor), copying only if unavoidable.

    A state argument is never copied: it must be a writable, C-contiguous numpy
    array or CPU torch tensor of the exact element type, which the call updates."""
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # torch.Tensor, without importing torch
        if getattr(value, "device", None) is not None and str(value.device) != "cpu":
            raise TypeError(f"{spec.name}: expected a CPU tensor, got one on {value.device}")
        if spec.state is not None and getattr(value, "requires_grad", False):
            raise TypeError(f"{spec.name}: a state tensor is updated in place; it must not require grad")
        value = value.detach().numpy()
    elif spec.state is not None and not isinstance(value, np.ndarray):
        raise TypeError(f"{spec.name}: a state argument is updated in place: pass a numpy array or CPU torch "
                        f"tensor, got {type(value).__name__}")
    array = np.asarray(value)
    accepted = _ACCEPTED.get(spec.element)
    if accepted is None:
        raise TypeError(f"{spec.name}: element type {spec.element} is not supported at the function boundary")
    if array.dtype not in [np.dtype(a) for a in accepted]:
        want = " or ".join(np.dtype(a).name for a in accepted)
        raise TypeError(f"{spec.name}: expected dtype {want} for {spec.describe()}, got {array.dtype}")
    if spec.shape is None:
        if array.ndim != 0:
            raise ValueError(f"{spec.name}: expected a scalar, got shape {array.shape}")
        return array
    if array.ndim != len(spec.shape):
        raise ValueError(f"{spec.name}: expected rank {len(spec.shape)} ({spec.describe()}), got shape {array.shape}")
    for axis, (want, got) in enumerate(zip(spec.shape, array.shape)):
        if want is not None and want != got:
            raise ValueError(f"{spec.name}: dimension {axis} must be {want} ({spec.describe()}), got shape {array.shape}")
    if spec.state is not None:
        if not array.flags.c_contiguous:
            raise ValueError(f"{spec.name}: a state argument is updated in place and must be C-contiguous "
                             "(a copy would not be updated)")
        if not array.flags.writeable:
            raise ValueError(f"{spec.name}: a state argument is updated in place; this array is read-only")
        return array
    return np.ascontiguousarray(array)


def make_descriptor(array: np.ndarray):
    """A memref descriptor viewing ``array`` (C-contiguous) without copying."""
    desc = descriptor_type(array.ndim)()
    ptr = array.ctypes.data
    desc.allocated = ptr
    desc.aligned = ptr
    desc.offset = 0
    stride = 1  # identity layout: dense row-major strides (numpy may report any stride for size-1 dims)
    for axis in reversed(range(array.ndim)):
        desc.sizes[axis] = array.shape[axis]
        desc.strides[axis] = stride
        stride *= array.shape[axis]
    return desc


def make_scalar(array: np.ndarray, element: str):
    return _SCALAR_CTYPES[element](array.item())


def result_struct(results: list[ResultSpec]):
    """(ctypes object passed as the result pointer, list of descriptors inside it)."""
    types = [descriptor_type(r.rank) for r in results]
    if len(types) == 1:
        obj = types[0]()
        return obj, [obj]
    struct = type("Results", (ctypes.Structure,), {"_fields_": [(f"r{i}", t) for i, t in enumerate(types)]})
    obj = struct()
    return obj, [getattr(obj, f"r{i}") for i in range(len(types))]


def wrap_result(desc, spec: ResultSpec, foreign: set[int], owners: dict[int, _MallocOwner]) -> np.ndarray:
    """numpy array over a returned descriptor; takes ownership of fresh buffers."""
    dtype = np.dtype(np.uint8 if spec.codes_of else _RESULT_DTYPE[spec.element])
    shape = tuple(desc.sizes[i] for i in range(spec.rank)) if spec.rank else ()
    strides = tuple(desc.strides[i] for i in range(spec.rank)) if spec.rank else ()
    count = int(np.prod(shape, dtype=np.int64))
    allocated = desc.allocated or 0
    aligned = (desc.aligned or 0) + desc.offset * dtype.itemsize
    if count == 0:
        if allocated and allocated not in foreign and allocated not in owners:
            owners[allocated] = _MallocOwner(allocated)
        return np.zeros(shape, dtype=dtype)
    # Extent in elements from the strides (identity layouts: the dense size).
    extent = 1 + sum((s - 1) * st for s, st in zip(shape, strides))
    raw = (ctypes.c_char * (extent * dtype.itemsize)).from_address(aligned)
    view = np.ndarray(shape, dtype=dtype, buffer=raw, strides=tuple(st * dtype.itemsize for st in strides))
    if allocated in foreign or allocated == _GLOBAL_SENTINEL:
        return view.copy()  # not ours to free (an input, a weight or a global)
    owner = owners.get(allocated)
    if owner is None:
        owner = owners[allocated] = _MallocOwner(allocated)
    raw._kvc_owner = owner  # the array keeps `raw` alive, `raw` keeps the owner
    return view
