"""A numpy-backed stand-in for the part of CuPy's API graphexec's device code touches, so its
plumbing is tested on machines without a GPU: device arrays are numpy arrays of a subclass
that says it lives on a CUDA device, and the module's functions are numpy's, with their array
results made device arrays.  It checks what a real GPU would: a host array (other than 0-d)
given to a device function is a TypeError, as CuPy refuses implicit host-to-device copies.

It also behaves as CuPy does where CuPy differs from numpy (docs/gpu.md), so the kernels'
branches for those differences are exercised: reductions give 0-d device arrays, not numpy
scalars; ufuncs refuse lists; ``take``, ``take_along_axis`` and integer-array indexing wrap
out-of-range indices silently; a float to integer ``astype`` saturates (NaN gives 0), as CUDA's
conversions do; ``add.at`` takes only the dtypes CUDA's ``atomicAdd`` has; ``linalg.eig`` is
always complex, and absent with ``make(eig=False)`` (CuPy before 14).

Nothing here runs on a GPU or says anything about CUDA kernels: the ``gpu`` tests do that.
"""

from __future__ import annotations

import contextlib
import time
import types
import weakref
from typing import Any

import numpy as np

from . import host_cuda


class ndarray(np.ndarray):
    """A "device" array: host memory, on pretend CUDA device ``device.id``."""

    _device_id = 0

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        return {"shape": self.shape, "typestr": self.dtype.str, "version": 3,
                "data": (self.ctypes.data, False)}

    @property
    def device(self) -> Any:
        return types.SimpleNamespace(id=self._device_id)

    def get(self) -> np.ndarray:
        """The host copy, as ``cupy.ndarray.get`` gives."""
        return np.array(self.view(np.ndarray), copy=True)

    def __array_finalize__(self, obj: Any) -> None:
        # a view keeps its base's device; a new array is on the current one
        self._device_id = getattr(obj, "_device_id", _CURRENT[0])
        if self.base is None:  # memory of its own (a copy): from the pool
            _allocated(self, self._device_id)

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        # NOTE: no host check here: numpy's own implementations call array functions on
        # scratch host arrays (zeros_like's copyto); the module's functions check their args
        return _wrap(super().__array_function__(func, types_, args, kwargs))

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        # NOTE: operators (a + b) too: host arrays, other devices' arrays and lists are refused
        if method == "__call__" and any(isinstance(i, list | tuple) for i in inputs):
            raise TypeError("Unsupported type <class 'list'> (CuPy's ufuncs take arrays "
                            "and scalars, not lists)")
        _check_no_host(inputs)
        plain = [i.view(np.ndarray) if isinstance(i, ndarray) else i for i in inputs]
        if ufunc is np.matmul and len(plain) == 2 and np.shares_memory(*plain):
            # NOTE: cuBLAS runs A.T @ A as any gemm; numpy would take another BLAS call (syrk)
            plain[1] = plain[1].copy()
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, ndarray) else o
                                  for o in kwargs["out"])
        with np.errstate(all="ignore"):  # NOTE: CuPy never warns about floating point
            return _wrap(getattr(ufunc, method)(*plain, **kwargs))

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(_wrapped_key(self.shape, key))

    def take(self, indices: Any, axis: Any = None, **kwargs: Any) -> Any:
        return _take(self, indices, axis)

    def astype(self, dtype: Any, *args: Any, **kwargs: Any) -> Any:
        dt = np.dtype(dtype)
        if self.dtype.kind != "f" or dt.kind not in "iu":
            return super().astype(dtype, *args, **kwargs)
        # NOTE: CUDA's float to integer conversions saturate and give 0 for NaN
        x = self.view(np.ndarray)
        info = np.iinfo(dt)
        with np.errstate(invalid="ignore"):
            fits = (x >= float(info.min)) & (x < float(info.max) + 1.0)
            out = np.where(fits, x, 0).astype(dt)
        out[~fits & (x > 0)] = info.max
        out[~fits & (x < 0)] = info.min
        return _tagged(out)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")


#: the pretend current device (``cupy.cuda.Device(i)`` as a context sets it)
_CURRENT = [0]


def _tagged(a: np.ndarray) -> ndarray:
    out = np.ndarray.view(a, ndarray)
    out._device_id = _CURRENT[0]
    if a.base is None:  # the device array's memory: from the pool
        _allocated(a, _CURRENT[0])
    return out


#: the memory hooks in use (``with hook:``), told of every allocation and free as CuPy's pool
#: tells them
_HOOKS: list[Any] = []


def _allocated(owner: np.ndarray, device_id: int) -> None:
    if not _HOOKS:
        return
    size = owner.nbytes
    mem = -(-size // 512) * 512  # NOTE: CuPy's pool rounds up to 512-byte blocks
    info = {"device_id": device_id, "mem_size": mem, "mem_ptr": owner.ctypes.data,
            "pmem_id": id(owner)}
    for h in list(_HOOKS):
        h.malloc_postprocess(size=size, **info)
    weakref.finalize(owner, _freed, info)


def _freed(info: dict[str, Any]) -> None:
    for h in list(_HOOKS):
        h.free_postprocess(**info)


class MemoryHook:
    """``cupy.cuda.MemoryHook``: its methods are called at each allocation and free while it
    is in use (``with hook:``)."""

    name = "MemoryHook"

    def __enter__(self) -> MemoryHook:
        _HOOKS.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _HOOKS.remove(self)

    def malloc_postprocess(self, **kwargs: Any) -> None:
        pass

    def free_postprocess(self, **kwargs: Any) -> None:
        pass


def _device(a: Any) -> Any:
    """``cupy.asarray``: the array itself when on the current device, else a copy there."""
    if isinstance(a, ndarray) and a._device_id == _CURRENT[0]:
        return a
    if isinstance(a, ndarray):  # from another device: a copy on the current one
        return _tagged(np.array(a.view(np.ndarray)))
    if isinstance(a, np.ndarray | np.generic):
        return _tagged(np.array(a))
    return a


def _wrap(out: Any) -> Any:
    if isinstance(out, np.ndarray) and not isinstance(out, ndarray):
        return _tagged(out)
    if isinstance(out, np.generic):  # NOTE: CuPy's reductions give 0-d device arrays
        return _tagged(np.asarray(out))
    if isinstance(out, tuple):
        return tuple(_wrap(o) for o in out)
    if isinstance(out, list):
        return [_wrap(o) for o in out]
    return out


def _wrapped_key(shape: tuple[int, ...], key: Any) -> Any:
    """``key`` with its integer index arrays taken modulo their axis: CuPy's indexing wraps
    out-of-range indices where numpy raises."""
    items = key if isinstance(key, tuple) else (key,)
    used = sum(1 if not isinstance(k, np.ndarray) or k.dtype.kind != "b" else k.ndim
               for k in items if k is not None and k is not Ellipsis)
    out, dim = [], 0
    for k in items:
        if k is Ellipsis:
            dim += len(shape) - used
        elif isinstance(k, np.ndarray) and k.dtype.kind in "iu" and dim < len(shape):
            k = np.mod(k.view(np.ndarray), shape[dim]) if shape[dim] else k
            dim += 1
        elif isinstance(k, np.ndarray) and k.dtype.kind == "b":
            dim += k.ndim
        elif k is not None:
            dim += 1
        out.append(k)
    return tuple(out) if isinstance(key, tuple) else out[0]


def _take(a: Any, indices: Any, axis: Any = None) -> Any:
    _check_no_host([a, indices])
    return _wrap(np.take(a.view(np.ndarray), np.asarray(indices.view(np.ndarray)
                                                        if isinstance(indices, ndarray)
                                                        else indices), axis, mode="wrap"))


def _take_along_axis(a: Any, indices: Any, axis: Any) -> Any:
    _check_no_host([a, indices])
    n = a.shape[axis] if axis is not None else a.size
    idx = np.mod(indices.view(np.ndarray), n) if n else indices.view(np.ndarray)
    return _wrap(np.take_along_axis(a.view(np.ndarray), idx, axis))


#: the dtypes CuPy's ``add.at`` (``cupyx.scatter_add``, CUDA's ``atomicAdd``) takes
SCATTER_ADD_DTYPES = frozenset(np.dtype(c) for c in "iILQefd")


def _add_at(a: Any, indices: Any, values: Any) -> None:
    if a.dtype not in SCATTER_ADD_DTYPES:
        raise TypeError(f"scatter_add does not support {a.dtype} (CUDA's atomicAdd has no "
                        "such type)")
    _check_no_host([a, indices, values])
    plain = [k.view(np.ndarray) if isinstance(k, ndarray) else k
             for k in (indices if isinstance(indices, tuple) else (indices,))]
    np.add.at(a.view(np.ndarray), tuple(plain) if isinstance(indices, tuple) else plain[0],
              values.view(np.ndarray) if isinstance(values, ndarray) else values)


def _eig(a: Any) -> Any:
    _check_no_host([a])
    w, v = np.linalg.eig(a.view(np.ndarray))
    dt = np.result_type(w.dtype, np.complex64)
    return _wrap((w.astype(dt), v.astype(dt)))  # NOTE: CuPy's eig is always complex


def _check_no_host(args: Any) -> None:
    for a in args:
        if isinstance(a, list | tuple):
            _check_no_host(a)
        elif type(a) is np.ndarray and a.ndim > 0:
            raise TypeError(f"Unsupported type {type(a)} (a host array given to a device "
                            "function: CuPy copies no host data implicitly)")
        elif isinstance(a, ndarray) and a._device_id != _CURRENT[0]:
            raise ValueError(f"Array device must be same as the current device: array "
                             f"device = {a._device_id} while current = {_CURRENT[0]}")


class _Namespace:
    """numpy (or one of its submodules) with device results."""

    def __init__(self, inner: Any, absent: frozenset[tuple[str, str]] = frozenset()) -> None:
        self._inner = inner
        self._absent = absent  # what this CuPy lacks

    def __getattr__(self, name: str) -> Any:
        if (self._inner.__name__, name) in self._absent:
            raise AttributeError(f"module {self._inner.__name__!r} has no attribute {name!r}")
        override = _OVERRIDES.get((self._inner.__name__, name))
        if override is not None:
            return override
        attr = getattr(self._inner, name)
        if isinstance(attr, types.ModuleType):
            return _Namespace(attr, self._absent)
        if isinstance(attr, type) or not callable(attr):
            return attr  # dtypes, constants
        is_ufunc = isinstance(attr, np.ufunc)

        def call(*args: Any, **kwargs: Any) -> Any:
            if is_ufunc and any(isinstance(a, list | tuple) for a in args):
                raise TypeError(f"Unsupported type {type(args[0])} (CuPy's ufuncs take "
                                "arrays and scalars, not lists)")
            _check_no_host(args)
            return _wrap(attr(*args, **kwargs))

        for a in ("reduce", "accumulate", "outer", "at", "reduceat"):  # ufunc methods
            if hasattr(attr, a):
                setattr(call, a, _add_at if (name, a) == ("add", "at")
                        else _ufunc_method(getattr(attr, a)))
        return call


#: where the stand-in does what CuPy does, not what numpy does
_OVERRIDES: dict[tuple[str, str], Any] = {
    ("numpy", "take"): _take, ("numpy", "take_along_axis"): _take_along_axis,
    ("numpy.linalg", "eig"): _eig}


def _ufunc_method(method: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        _check_no_host(args)
        return _wrap(method(*args, **kwargs))
    return call


def check_device_args(args: Any) -> None:
    """Refuse host arrays and other devices' arrays, as CuPy's functions do."""
    _check_no_host(args)


def make(devices: int = 1, eig: bool = True, kernels: bool = True) -> types.ModuleType:
    """A fresh stand-in module with ``devices`` pretend GPUs (``eig=False``: without
    ``linalg.eig``, as CuPy before 14).  With ``kernels`` and a host C++ compiler it has
    ``ElementwiseKernel``, built on the host (tests/host_cuda.py)."""

    mod = types.ModuleType("cupy")
    numpy_ns = _Namespace(np, frozenset() if eig else {("numpy.linalg", "eig")})

    def module_getattr(name: str) -> Any:
        return getattr(numpy_ns, name)

    mod.__getattr__ = module_getattr  # type: ignore[method-assign]
    mod.ndarray = ndarray  # type: ignore[attr-defined]
    def asarray(a: Any, dtype: Any = None) -> Any:
        if dtype is not None:
            a = a.astype(dtype) if isinstance(a, ndarray) else np.asarray(a, dtype)
        return _device(a)

    mod.asarray = asarray  # type: ignore[attr-defined]
    mod.array = lambda a, dtype=None, copy=True: _tagged(  # type: ignore[attr-defined]
        np.array(a.view(np.ndarray) if isinstance(a, ndarray) else a, dtype))
    mod.asnumpy = lambda a: a.get() if isinstance(a, ndarray) else np.asarray(a)  # type: ignore[attr-defined]

    class Device(contextlib.AbstractContextManager):
        def __init__(self, index: int | None = None) -> None:
            self.id = _CURRENT[0] if index is None else index  # None: the current device
            self._outer: list[int] = []

        def __enter__(self) -> Device:
            self._outer.append(_CURRENT[0])
            _CURRENT[0] = self.id
            return self

        def __exit__(self, *exc: Any) -> None:
            _CURRENT[0] = self._outer.pop()

        def synchronize(self) -> None:
            synced.append(self.id)  # nothing runs asynchronously here

    if kernels and host_cuda.CXX:
        mod.ElementwiseKernel = host_cuda.ElementwiseKernel  # type: ignore[attr-defined]
    runtime = types.SimpleNamespace(getDeviceCount=lambda: devices)
    synced: list[int] = []  # the devices waited for, in order (the tests read it)

    class Event:
        """``cupy.cuda.Event``: here, the host's clock when recorded (nothing is queued)."""

        def __init__(self) -> None:
            self.t = 0.0

        def record(self) -> None:
            self.t = time.perf_counter()

        def synchronize(self) -> None:
            pass

    def get_elapsed_time(start: Event, stop: Event) -> float:
        return (stop.t - start.t) * 1e3  # milliseconds, as CuPy's

    mod.cuda = types.SimpleNamespace(  # type: ignore[attr-defined]
        runtime=runtime, Device=Device, MemoryHook=MemoryHook, synced=synced, Event=Event,
        get_elapsed_time=get_elapsed_time,
        compiler=types.SimpleNamespace(CompileException=host_cuda.CompileException))
    return mod
