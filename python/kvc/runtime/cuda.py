"""CUDA runtime for kvc artifacts: PTX loaded and launched through the CUDA
driver API (ctypes on ``libcuda.so.1``), on PyTorch's context and stream.

Needs only the NVIDIA driver, numpy and torch (no MLIR, no CUDA toolkit, no
extra packages), so compiled artifacts run on any GPU box.

* The context is PyTorch's: torch initializes CUDA and makes its primary
  context current; if no context is current on this thread,
  ``cuDevicePrimaryCtxRetain`` + ``cuCtxSetCurrent`` bind the primary
  context of torch's current device (the same one torch uses).
* Modules are loaded once per (context, PTX text) with ``cuModuleLoadDataEx``
  (the driver JIT-compiles the PTX for the GPU); functions are cached too.
* Launches use ``cuLaunchKernel`` on ``torch.cuda.current_stream()`` with
  torch tensors' ``data_ptr()`` as pointer arguments. Kernels whose PTX
  contains ``griddepcontrol.wait`` (kvc's sm_90 GEMVs) are launched with
  ``cuLaunchKernelEx`` and the programmatic-stream-serialization attribute
  (programmatic dependent launch) on devices of compute capability >= 9.0
  with a driver >= 12.3: such a grid may start while the grid before it on
  the stream finishes, and waits for it in ``griddepcontrol.wait`` before it
  reads its inputs or writes its outputs. ``KVC_CUDA_PDL=0`` in the
  environment (or :func:`set_pdl`) turns this off.
* Every failing driver call raises :class:`CudaDriverError` naming the call,
  the kernel and the driver's error name and string (and the JIT log for
  module loads).
"""

from __future__ import annotations

import ctypes
import hashlib
import threading

CUresult = ctypes.c_int
_CU_JIT_INFO_LOG_BUFFER = 3
_CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4
_CU_JIT_ERROR_LOG_BUFFER = 5
_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6
_CU_JIT_LOG_VERBOSE = 12
FUNC_ATTRIBUTES = {
    "max_threads_per_block": 0,
    "shared_size_bytes": 1,
    "const_size_bytes": 2,
    "local_size_bytes": 3,
    "num_regs": 4,
    "ptx_version": 5,
    "binary_version": 6,
}


_CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION = 6
_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75


class _LaunchAttribute(ctypes.Structure):
    # CUlaunchAttribute: CUlaunchAttributeID (4 bytes) + 4 bytes padding +
    # CUlaunchAttributeValue (a 64-byte union; programmaticStreamSerializationAllowed
    # is its first int)
    _fields_ = [("id", ctypes.c_int), ("pad", ctypes.c_char * 4), ("value", ctypes.c_int),
                ("value_rest", ctypes.c_char * 60)]


class _LaunchConfig(ctypes.Structure):
    # CUlaunchConfig
    _fields_ = [("gridDimX", ctypes.c_uint), ("gridDimY", ctypes.c_uint), ("gridDimZ", ctypes.c_uint),
                ("blockDimX", ctypes.c_uint), ("blockDimY", ctypes.c_uint), ("blockDimZ", ctypes.c_uint),
                ("sharedMemBytes", ctypes.c_uint), ("hStream", ctypes.c_void_p),
                ("attrs", ctypes.POINTER(_LaunchAttribute)), ("numAttrs", ctypes.c_uint)]


assert ctypes.sizeof(_LaunchAttribute) == 72 and ctypes.sizeof(_LaunchConfig) == 56


class CudaDriverError(RuntimeError):
    """A CUDA driver call failed. ``call``, ``kernel``, ``code``, ``name`` describe it."""

    def __init__(self, call: str, code: int, name: str, text: str, kernel: str | None = None, log: str = ""):
        self.call, self.code, self.name, self.text, self.kernel, self.log = call, code, name, text, kernel, log
        where = f" for kernel '{kernel}'" if kernel else ""
        msg = f"kvc cuda: {call}{where} failed: {name} ({code}): {text}"
        if log.strip():
            msg += "\nJIT log:\n" + log.strip()
        super().__init__(msg)


class _Driver:
    """The few driver entry points kvc needs, with checked calls."""

    def __init__(self):
        try:
            self.lib = ctypes.CDLL("libcuda.so.1")
        except OSError as err:
            raise RuntimeError(f"kvc cuda: cannot load the CUDA driver (libcuda.so.1): {err}") from None
        L = self.lib
        vp, u, i = ctypes.c_void_p, ctypes.c_uint, ctypes.c_int
        sig = {
            "cuInit": [u],
            "cuGetErrorName": [i, ctypes.POINTER(ctypes.c_char_p)],
            "cuGetErrorString": [i, ctypes.POINTER(ctypes.c_char_p)],
            "cuDeviceGet": [ctypes.POINTER(i), i],
            "cuCtxGetCurrent": [ctypes.POINTER(vp)],
            "cuCtxSetCurrent": [vp],
            "cuDevicePrimaryCtxRetain": [ctypes.POINTER(vp), i],
            "cuModuleLoadDataEx": [ctypes.POINTER(vp), ctypes.c_char_p, u, ctypes.POINTER(i), ctypes.POINTER(vp)],
            "cuModuleGetFunction": [ctypes.POINTER(vp), vp, ctypes.c_char_p],
            "cuModuleUnload": [vp],
            "cuFuncGetAttribute": [ctypes.POINTER(i), i, vp],
            "cuLaunchKernel": [vp, u, u, u, u, u, u, u, vp, ctypes.POINTER(vp), ctypes.POINTER(vp)],
            "cuLaunchKernelEx": [ctypes.POINTER(_LaunchConfig), vp, ctypes.POINTER(vp), ctypes.POINTER(vp)],
            "cuDriverGetVersion": [ctypes.POINTER(i)],
            "cuDeviceGetAttribute": [ctypes.POINTER(i), i, i],
            "cuOccupancyMaxActiveBlocksPerMultiprocessor": [ctypes.POINTER(i), vp, i, ctypes.c_size_t],
        }
        for name, args in sig.items():
            if name == "cuLaunchKernelEx" and not hasattr(L, name):  # drivers before CUDA 11.8
                continue
            fn = getattr(L, name)
            fn.argtypes = args
            fn.restype = CUresult
            setattr(self, name, fn)
        self.check(self.cuInit(0), "cuInit")

    def error_text(self, code: int) -> tuple[str, str]:
        name, text = ctypes.c_char_p(), ctypes.c_char_p()
        self.cuGetErrorName(code, ctypes.byref(name))
        self.cuGetErrorString(code, ctypes.byref(text))
        return ((name.value or b"CUDA_ERROR_UNKNOWN").decode(), (text.value or b"unknown error").decode())

    def check(self, code: int, call: str, kernel: str | None = None, log: str = ""):
        if code != 0:
            name, text = self.error_text(code)
            raise CudaDriverError(call, code, name, text, kernel, log)

    def version(self) -> int:
        v = ctypes.c_int()
        self.check(self.cuDriverGetVersion(ctypes.byref(v)), "cuDriverGetVersion")
        return v.value


_driver: _Driver | None = None
_lock = threading.Lock()
_modules: dict[tuple[int, str], ctypes.c_void_p] = {}
_functions: dict[tuple, ctypes.c_void_p] = {}


def driver() -> _Driver:
    global _driver
    with _lock:
        if _driver is None:
            _driver = _Driver()
        return _driver


def current_context() -> int:
    """Handle of torch's CUDA context, made current on this thread if needed."""
    import torch

    torch.cuda.init()
    dev = torch.cuda.current_device()
    torch.cuda.current_stream(dev)  # forces torch to set up its primary context
    d = driver()
    ctx = ctypes.c_void_p()
    d.check(d.cuCtxGetCurrent(ctypes.byref(ctx)), "cuCtxGetCurrent")
    if not ctx.value:
        cudev = ctypes.c_int()
        d.check(d.cuDeviceGet(ctypes.byref(cudev), dev), "cuDeviceGet")
        d.check(d.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), cudev), "cuDevicePrimaryCtxRetain")
        d.check(d.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
    return int(ctx.value)


def load_module(ptx: str, what: str = "module") -> ctypes.c_void_p:
    """Load (once per context) a PTX module; JIT errors carry the driver's log."""
    d = driver()
    ctx = current_context()
    key = (ctx, hashlib.sha1(ptx.encode()).hexdigest())
    mod = _modules.get(key)
    if mod is not None:
        return mod
    size = 1 << 16
    err_buf = ctypes.create_string_buffer(size)
    info_buf = ctypes.create_string_buffer(size)
    opts = (ctypes.c_int * 4)(_CU_JIT_ERROR_LOG_BUFFER, _CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                              _CU_JIT_INFO_LOG_BUFFER, _CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES)
    vals = (ctypes.c_void_p * 4)(ctypes.cast(err_buf, ctypes.c_void_p), ctypes.c_void_p(size),
                                 ctypes.cast(info_buf, ctypes.c_void_p), ctypes.c_void_p(size))
    mod = ctypes.c_void_p()
    code = d.cuModuleLoadDataEx(ctypes.byref(mod), ptx.encode() + b"\0", 4, opts, vals)
    d.check(code, "cuModuleLoadDataEx", what, err_buf.value.decode(errors="replace"))
    _modules[key] = mod
    return mod


def get_function(ptx: str, name: str) -> ctypes.c_void_p:
    """The kernel ``name`` of ``ptx`` in the current device's context (cached:
    after the first call a lookup costs one dict access)."""
    import torch

    fkey = (torch.cuda.current_device(), name, hash(ptx), len(ptx))
    fn = _functions.get(fkey)
    if fn is None:
        mod = load_module(ptx, name)
        d = driver()
        fn = ctypes.c_void_p()
        d.check(d.cuModuleGetFunction(ctypes.byref(fn), mod, name.encode()), "cuModuleGetFunction", name)
        _functions[fkey] = fn
    return fn


def function_attributes(ptx: str, name: str) -> dict[str, int]:
    """Registers, local (spill) memory, static shared memory ... of a kernel."""
    d = driver()
    fn = get_function(ptx, name)
    out = {}
    for attr, code in FUNC_ATTRIBUTES.items():
        v = ctypes.c_int()
        d.check(d.cuFuncGetAttribute(ctypes.byref(v), code, fn), f"cuFuncGetAttribute({attr})", name)
        out[attr] = v.value
    return out


def sm_count() -> int:
    """Multiprocessors of torch's current device."""
    import torch

    d = driver()
    current_context()
    dev = ctypes.c_int()
    d.check(d.cuDeviceGet(ctypes.byref(dev), torch.cuda.current_device()), "cuDeviceGet")
    v = ctypes.c_int()
    d.check(d.cuDeviceGetAttribute(ctypes.byref(v), 16, dev), "cuDeviceGetAttribute(MULTIPROCESSOR_COUNT)")
    return v.value


def max_active_blocks(ptx: str, name: str, block_threads: int, dynamic_smem: int = 0) -> int:
    """Blocks of ``name`` that fit on one multiprocessor at once (registers,
    shared memory, threads), as the driver computes it."""
    d = driver()
    fn = get_function(ptx, name)
    v = ctypes.c_int()
    d.check(d.cuOccupancyMaxActiveBlocksPerMultiprocessor(ctypes.byref(v), fn, block_threads, dynamic_smem),
            "cuOccupancyMaxActiveBlocksPerMultiprocessor", name)
    return v.value


class Arg:
    """Kernel argument constructors: pointers (ints / tensors) and 32-bit ints."""

    @staticmethod
    def ptr(value) -> ctypes.c_void_p:
        return ctypes.c_void_p(value.data_ptr() if hasattr(value, "data_ptr") else int(value))

    @staticmethod
    def i32(value) -> ctypes.c_int32:
        return ctypes.c_int32(int(value))


_pdl_enabled: bool | None = None
_pdl_device: dict[int, bool] = {}
_pdl_kernel: dict[tuple, bool] = {}


def set_pdl(enabled: bool | None) -> None:
    """Turn programmatic dependent launch on / off (None: the environment's
    ``KVC_CUDA_PDL``, default on)."""
    global _pdl_enabled
    _pdl_enabled = enabled
    _pdl_kernel.clear()


def pdl_enabled() -> bool:
    if _pdl_enabled is not None:
        return _pdl_enabled
    import os

    return os.environ.get("KVC_CUDA_PDL", "1") not in ("0", "", "off", "false")


def _device_supports_pdl(dev_index: int) -> bool:
    ok = _pdl_device.get(dev_index)
    if ok is None:
        d = driver()
        ok = False
        if hasattr(d, "cuLaunchKernelEx") and d.version() >= 12030:
            dev, v = ctypes.c_int(), ctypes.c_int()
            d.check(d.cuDeviceGet(ctypes.byref(dev), dev_index), "cuDeviceGet")
            d.check(d.cuDeviceGetAttribute(ctypes.byref(v), _CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev),
                    "cuDeviceGetAttribute(COMPUTE_CAPABILITY_MAJOR)")
            ok = v.value >= 9
        _pdl_device[dev_index] = ok
    return ok


def uses_pdl(ptx: str, name: str) -> bool:
    """Whether launches of ``name`` are programmatic-dependent: only kernels
    that wait for the grid before them (``griddepcontrol.wait`` in the PTX),
    on a device and driver that support it, unless turned off."""
    import torch

    dev = torch.cuda.current_device()
    key = (dev, name, hash(ptx), len(ptx))
    use = _pdl_kernel.get(key)
    if use is None:
        use = pdl_enabled() and "griddepcontrol.wait" in ptx and _device_supports_pdl(dev)
        _pdl_kernel[key] = use
    return use


def launch(ptx: str, name: str, grid, block, args, shared_bytes: int = 0, stream=None) -> None:
    """Launch kernel ``name`` of ``ptx`` on torch's current stream (or ``stream``).

    ``args``: ctypes values in parameter order (see :class:`Arg`). Programmatic
    dependent launch where :func:`uses_pdl` says so.
    """
    import torch

    d = driver()
    fn = get_function(ptx, name)
    if stream is None:
        stream = torch.cuda.current_stream().cuda_stream
    elif hasattr(stream, "cuda_stream"):
        stream = stream.cuda_stream
    params = (ctypes.c_void_p * len(args))(*[ctypes.cast(ctypes.pointer(a), ctypes.c_void_p) for a in args])
    gx, gy, gz = (tuple(grid) + (1, 1))[:3]
    bx, by, bz = (tuple(block) + (1, 1))[:3]
    if uses_pdl(ptx, name):
        attr = _LaunchAttribute(id=_CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION, value=1)
        cfg = _LaunchConfig(gx, gy, gz, bx, by, bz, shared_bytes, ctypes.c_void_p(stream),
                            ctypes.pointer(attr), 1)
        code = d.cuLaunchKernelEx(ctypes.byref(cfg), fn, params, None)
        d.check(code, f"cuLaunchKernelEx(grid={tuple(grid)}, block={tuple(block)}, programmatic dependent launch)",
                name)
        return
    code = d.cuLaunchKernel(fn, gx, gy, gz, bx, by, bz, shared_bytes, ctypes.c_void_p(stream), params, None)
    d.check(code, f"cuLaunchKernel(grid={tuple(grid)}, block={tuple(block)})", name)


def available() -> tuple[bool, str]:
    """(True, "") if a CUDA GPU and driver are usable from torch, else (False, reason)."""
    try:
        import torch
    except ImportError:
        return False, "torch is not installed"
    if not torch.cuda.is_available():
        return False, "torch.cuda.is_available() is False (no GPU or no CUDA build of torch)"
    try:
        driver()
    except Exception as err:  # pragma: no cover - depends on the machine
        return False, str(err)
    return True, ""
