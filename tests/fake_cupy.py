"""A numpy-backed stand-in for the part of CuPy's API graphexec's device code touches, so its
plumbing is tested on machines without a GPU: device arrays are numpy arrays of a subclass
that says it lives on a CUDA device, and the module's functions are numpy's, with their array
results made device arrays.  It checks what a real GPU would: a host array (other than 0-d)
given to a device function is a TypeError, as CuPy refuses implicit host-to-device copies.
Nothing here runs on a GPU or says anything about CUDA kernels: the ``gpu`` tests do that.
"""

from __future__ import annotations

import contextlib
import types
from typing import Any

import numpy as np


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

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        # NOTE: no host check here: numpy's own implementations call array functions on
        # scratch host arrays (zeros_like's copyto); the module's functions check their args
        return _wrap(super().__array_function__(func, types_, args, kwargs))

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        # NOTE: operators (a + b) too: host arrays and other devices' arrays are refused
        _check_no_host(inputs)
        plain = [i.view(np.ndarray) if isinstance(i, ndarray) else i for i in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, ndarray) else o
                                  for o in kwargs["out"])
        with np.errstate(all="ignore"):  # NOTE: CuPy never warns about floating point
            return _wrap(getattr(ufunc, method)(*plain, **kwargs))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")


#: the pretend current device (``cupy.cuda.Device(i)`` as a context sets it)
_CURRENT = [0]


def _tagged(a: np.ndarray) -> ndarray:
    out = np.ndarray.view(a, ndarray)
    out._device_id = _CURRENT[0]
    return out


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
    if isinstance(out, tuple):
        return tuple(_wrap(o) for o in out)
    if isinstance(out, list):
        return [_wrap(o) for o in out]
    return out


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

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if isinstance(attr, types.ModuleType):
            return _Namespace(attr)
        if isinstance(attr, type) or not callable(attr):
            return attr  # dtypes, constants

        def call(*args: Any, **kwargs: Any) -> Any:
            _check_no_host(args)
            return _wrap(attr(*args, **kwargs))

        for a in ("reduce", "accumulate", "outer", "at", "reduceat"):  # ufunc methods
            if hasattr(attr, a):
                setattr(call, a, _ufunc_method(getattr(attr, a)))
        return call


def _ufunc_method(method: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        _check_no_host(args)
        return _wrap(method(*args, **kwargs))
    return call


def make(devices: int = 1) -> types.ModuleType:
    """A fresh stand-in module with ``devices`` pretend GPUs."""
    mod = types.ModuleType("cupy")
    numpy_ns = _Namespace(np)

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
        def __init__(self, index: int = 0) -> None:
            self.id = index
            self._outer: list[int] = []

        def __enter__(self) -> Device:
            self._outer.append(_CURRENT[0])
            _CURRENT[0] = self.id
            return self

        def __exit__(self, *exc: Any) -> None:
            _CURRENT[0] = self._outer.pop()

    runtime = types.SimpleNamespace(getDeviceCount=lambda: devices)
    mod.cuda = types.SimpleNamespace(runtime=runtime, Device=Device)  # type: ignore[attr-defined]
    return mod
