"""Creation ops: zeros, ones, fill, eye, range, and the random ops of ``gx.random``.

In graph mode each is a node computed at run time, not a constant baked into the graph.
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any
from typing import cast as type_cast  # ``cast`` is the tensor op

import numpy as np

from .. import config
from ..checks import check_dtype
from ..context import current_graph
from ..device import CPU, Device, current_device, to_device
from ..errors import DTypeError, InvalidArgumentError, op_error
from ..registry import Spec, register
from ..tensor import Tensor, apply, as_tensor, default_dtype, host_array
from .array import _shape, broadcast_to, cast
from .state import static_value  # noqa: F401  (re-exported for the frontends)

# normal, uniform and set_seed live in the gx.random namespace (graphexec/random.py)
__all__ = ["constant", "from_numpy", "from_dlpack", "zeros", "ones", "zeros_like", "ones_like",
           "fill", "eye", "range"]

_F32 = np.dtype(np.float32)


# ---------------------------------------------------------------------------------------------
# fill: zeros, ones and fill itself

def constant(value: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    """A tensor holding ``value`` (captured into the graph as a constant node in graph mode).

    >>> import graphexec as gx
    >>> gx.constant([1, 2, 3], dtype="float32")
    Tensor([1., 2., 3.], shape=(3,), dtype=float32)
    """
    if isinstance(value, Tensor):
        if dtype is None or np.dtype(dtype) == value.dtype:
            return value
        return cast(value, dtype)
    arr = host_array(value, dtype)
    g = current_graph()
    if g is None:
        dev = current_device()
        return Tensor(arr if dev == CPU else to_device(arr, dev, "constant"))
    return g.constant(arr, name=name)


def from_numpy(array: np.ndarray) -> Tensor:
    """An eager tensor over ``array``'s own memory, without a copy (``gx.constant`` copies):
    a later change to the array shows in the tensor.  Graphexec never writes into it.

    >>> import numpy as np, graphexec as gx
    >>> a = np.arange(3.0)
    >>> t = gx.from_numpy(a)
    >>> a[0] = 7.0
    >>> t.numpy()
    array([7., 1., 2.])
    """
    if not isinstance(array, np.ndarray):
        raise InvalidArgumentError(f"from_numpy: expected a numpy array, got "
                                   f"{type(array).__name__}; gx.constant takes any data")
    if array.dtype.kind not in "biufc":
        raise DTypeError(f"from_numpy: arrays of {array.dtype} are not tensors: numbers and "
                         "booleans only")
    if current_graph() is not None:
        raise InvalidArgumentError("from_numpy: makes an eager tensor; inside a graph block "
                                   "use gx.constant (or a placeholder and feeds)")
    # NOTE: a plain view (a memmap or masked array is a subclass), so the tensor never owns,
    # nor freezes, the user's memory: a Variable assigned from it copies it
    return Tensor(array.view(np.ndarray))


#: DLPack's device types (``__dlpack_device__()[0]``) by name
DLPACK_DEVICES = {1: "CPU", 2: "CUDA", 3: "CUDA host memory", 4: "OpenCL", 7: "Vulkan",
                  8: "Metal", 9: "VPI", 10: "ROCm", 13: "CUDA managed memory"}


def from_dlpack(x: Any, copy: bool | None = None) -> Tensor:
    """An eager tensor over the memory of ``x``, any DLPack producer (a numpy array, a PyTorch
    or JAX tensor, a graphexec tensor), without a copy unless ``copy=True``: on the CPU for
    host memory, on the producer's GPU (through CuPy) for CUDA memory.

    >>> import numpy as np, graphexec as gx
    >>> a = np.arange(4, dtype="int32")
    >>> t = gx.from_dlpack(a)
    >>> t, np.shares_memory(t.numpy(), a)
    (Tensor([0, 1, 2, 3], shape=(4,), dtype=int32), True)
    """
    if not hasattr(x, "__dlpack__") or not hasattr(x, "__dlpack_device__"):
        raise InvalidArgumentError(f"from_dlpack: {type(x).__name__} is not a DLPack producer "
                                   "(it has no __dlpack__ and __dlpack_device__)")
    kind, index = (int(k) for k in x.__dlpack_device__())
    if current_graph() is not None:
        raise InvalidArgumentError("from_dlpack: makes an eager tensor; inside a graph block "
                                   "use gx.constant (or a placeholder and feeds)")
    if kind == 2:  # CUDA device memory: a tensor on that GPU, through CuPy
        dev = Device("cuda", index)
        xp = dev.xp("from_dlpack")
        with xp.cuda.Device(index):
            array = xp.from_dlpack(x) if not copy else xp.array(xp.from_dlpack(x))
    elif kind in (1, 3, 13):  # host memory: the CPU, CUDA's pinned or managed memory
        array = np.from_dlpack(x, copy=copy)
    else:
        where = DLPACK_DEVICES.get(kind, f"DLPack device type {kind}")
        raise InvalidArgumentError(
            f"from_dlpack: the {type(x).__name__} lives on {where} device {index}; graphexec "
            "tensors live on the CPU or a CUDA GPU: copy it to one of them first")
    if array.dtype.kind not in "biufc":
        raise DTypeError(f"from_dlpack: {array.dtype} data is not a tensor: numbers and "
                         "booleans only")
    return Tensor(array)


def _fill_infer(*, shape: tuple[int, ...], value: Any, dtype: np.dtype) -> Spec:
    return Spec(shape, dtype)


@register("fill", infer=_fill_infer, arity=0)
def fill_p(xp, shape, value, dtype):
    return xp.full(shape, value, dtype=dtype)


def _dtype(dtype: Any, op: str) -> np.dtype:
    """``dtype`` checked; None is the default float dtype (``gx.config.set_floatx``)."""
    return check_dtype(config.floatx() if dtype is None else dtype, op)


def _full(shape: Any, value: Any, dtype: Any, op: str) -> Tensor:
    dtype = _dtype(dtype, op)
    return apply(fill_p, shape=_shape(shape, op), value=value, dtype=dtype)


def zeros(shape: Any, dtype: Any = None) -> Tensor:
    """A tensor of zeros.

    >>> import graphexec as gx
    >>> gx.zeros((2, 3)).numpy()
    array([[0., 0., 0.],
           [0., 0., 0.]], dtype=float32)
    """
    return _full(shape, 0, dtype, "zeros")


def ones(shape: Any, dtype: Any = None) -> Tensor:
    """A tensor of ones.

    >>> import graphexec as gx
    >>> gx.ones(3, dtype="int32").numpy()
    array([1, 1, 1], dtype=int32)
    """
    return _full(shape, 1, dtype, "ones")


def fill(dims: Any, value: Any) -> Tensor:
    """A tensor of shape ``dims`` filled with the scalar ``value``; the dtype is the one numpy
    gives ``value``, with Python floats in the default float dtype (``1`` -> int64, ``1.0`` ->
    float32, ``np.float64(1)`` -> float64).

    >>> import graphexec as gx
    >>> gx.fill((2, 2), 7).numpy()
    array([[7, 7],
           [7, 7]])
    """
    if isinstance(value, Tensor):
        if value.ndim:
            raise op_error(InvalidArgumentError, "fill", f"value must be a scalar, got a "
                           f"tensor of shape {value.shape}")
        return broadcast_to(value, _shape(dims, "fill"))
    arr = host_array(value) if not isinstance(value, str) else np.asarray(value)
    if arr.ndim or arr.dtype.kind not in "biufc":
        raise op_error(InvalidArgumentError, "fill", f"value must be a number, got {value!r}")
    return _full(dims, arr.item(), arr.dtype, "fill")


def _full_like_infer(x: Spec, value: Any, dtype: np.dtype | None) -> Spec:
    return Spec(x.shape, x.dtype if dtype is None else dtype)


@register("full_like", infer=_full_like_infer, arity=1, shape_only=(0,))
def full_like_p(xp, x, value, dtype):
    return xp.full_like(x, value, dtype=dtype)


def _like(x: Any, value: int, dtype: Any, op: str) -> Tensor:
    dtype = None if dtype is None else check_dtype(dtype, op)
    return apply(full_like_p, as_tensor(x), value=value, dtype=dtype)


def zeros_like(input: Any, dtype: Any = None) -> Tensor:  # noqa: A002 - the TF name
    """Zeros shaped like ``input`` (its dtype unless ``dtype`` is given); in graph mode the
    shape may be known only at run time.

    >>> import graphexec as gx
    >>> gx.zeros_like([[1, 2]], dtype="float32").numpy()
    array([[0., 0.]], dtype=float32)
    """
    return _like(input, 0, dtype, "zeros_like")


def ones_like(input: Any, dtype: Any = None) -> Tensor:  # noqa: A002 - the TF name
    """Ones shaped like ``input`` (its dtype unless ``dtype`` is given).

    >>> import graphexec as gx
    >>> gx.ones_like([1.5, 2.5]).numpy()
    array([1., 1.], dtype=float32)
    """
    return _like(input, 1, dtype, "ones_like")


# ---------------------------------------------------------------------------------------------
# eye, range

def _eye_infer(*, num_rows: int, num_columns: int, dtype: np.dtype) -> Spec:
    return Spec((num_rows, num_columns), dtype)


@register("eye", infer=_eye_infer, arity=0)
def eye_p(xp, num_rows, num_columns, dtype):
    return xp.eye(num_rows, num_columns, dtype=dtype)


def eye(num_rows: int, num_columns: int | None = None, batch_shape: Any = None,
        dtype: Any = None) -> Tensor:
    """The identity matrix (``num_rows`` x ``num_columns``), repeated over ``batch_shape``.

    >>> import graphexec as gx
    >>> gx.eye(2, 3).numpy()
    array([[1., 0., 0.],
           [0., 1., 0.]], dtype=float32)
    >>> gx.eye(2, batch_shape=[4]).shape
    (4, 2, 2)
    """
    n, m = _shape((num_rows, num_rows if num_columns is None else num_columns), "eye")
    batch = None if batch_shape is None else _shape(batch_shape, "eye")
    out = apply(eye_p, num_rows=n, num_columns=m, dtype=_dtype(dtype, "eye"))
    return out if batch is None else broadcast_to(out, (*batch, n, m))


def _range_infer(*, start: Any, limit: Any, delta: Any, dtype: np.dtype) -> Spec:
    if delta == 0:
        raise InvalidArgumentError("delta must not be zero")
    return Spec((max(0, math.ceil((limit - start) / delta)),), dtype)


@register("range", infer=_range_infer, arity=0)
def range_p(xp, start, limit, delta, dtype):
    return xp.arange(start, limit, delta, dtype=dtype)


def range(start: Any, limit: Any = None, delta: Any = 1,  # noqa: A001 - the TF name
          dtype: Any = None) -> Tensor:
    """The numbers ``start, start + delta, ...`` up to but not including ``limit``;
    ``range(n)`` counts from 0. The dtype is the one ``np.arange`` would pick, with Python
    floats in the default float dtype.

    >>> import graphexec as gx
    >>> gx.range(5).numpy()
    array([0, 1, 2, 3, 4])
    >>> gx.range(1.0, 0.0, -0.25).numpy()
    array([1.  , 0.75, 0.5 , 0.25], dtype=float32)
    """
    if limit is None:
        start, limit = 0, start
    args = (start, limit, delta)
    for v in args:
        if isinstance(v, Tensor) or not isinstance(v, numbers.Real):
            raise op_error(InvalidArgumentError, "range", f"start, limit and delta must be "
                           f"real Python or numpy numbers, got {v!r}")
    if delta == 0:
        raise op_error(InvalidArgumentError, "range", "delta must not be zero")
    if dtype is None:  # np.arange's rule: at least the default int, promoted by each argument
        dtype = np.result_type(np.intp, *(np.asarray(v).dtype for v in args))
        if not any(isinstance(v, np.generic) for v in args):  # Python floats: the default
            dtype = default_dtype(dtype)
    start, limit, delta = (v.item() if isinstance(v, np.generic) else v for v in args)
    return apply(range_p, start=start, limit=limit, delta=delta,
                 dtype=check_dtype(dtype, "range"))


# ---------------------------------------------------------------------------------------------
# random ops. A seeded op is a pure function of its seed; an unseeded one draws from the
# global generator that set_seed reseeds.

_rng = np.random.default_rng()


def set_seed(seed: int | None) -> None:
    """Reseed the global generator that unseeded random ops draw from.

    >>> import graphexec as gx
    >>> gx.random.set_seed(1); a = gx.random.uniform((2,)).numpy()
    >>> gx.random.set_seed(1); b = gx.random.uniform((2,)).numpy()
    >>> bool((a == b).all())
    True
    """
    global _rng
    _rng = np.random.default_rng(seed)


def _generator(seed: int | None) -> np.random.Generator:
    # NOTE: drawn on the host with numpy even for cupy, so a seed gives the same values
    # on every backend; the caller moves the result with xp.asarray
    return _rng if seed is None else np.random.default_rng(seed)


def _random_infer(*, shape: tuple[int, ...], dtype: np.dtype, seed: int | None,
                  **params: float) -> Spec:
    return Spec(shape, dtype)


def _draw_dtype(dtype: np.dtype) -> np.dtype:
    return dtype if dtype in (np.float32, np.float64) else _F32


@register("random_normal", infer=_random_infer, pure=False, arity=0)
def random_normal_p(xp, shape, mean, stddev, dtype, seed):
    dt = _draw_dtype(dtype)
    out = _generator(seed).standard_normal(shape, dtype=dt)
    out = out * dt.type(stddev) + dt.type(mean)
    return xp.asarray(out.astype(dtype, copy=False))


@register("random_uniform", infer=_random_infer, pure=False, arity=0)
def random_uniform_p(xp, shape, minval, maxval, dtype, seed):
    rng = _generator(seed)
    if dtype.kind in "iu":
        return xp.asarray(rng.integers(minval, maxval, size=shape, dtype=dtype))
    dt = _draw_dtype(dtype)
    out = rng.random(shape, dtype=dt) * dt.type(maxval - minval) + dt.type(minval)
    return xp.asarray(out.astype(dtype, copy=False))


def _seed(seed: Any, op: str) -> int | None:
    if seed is None:
        return None
    try:
        seed = operator.index(seed)
    except TypeError:
        raise op_error(InvalidArgumentError, op, f"seed must be an int, got {seed!r}") from None
    if seed < 0:
        raise op_error(InvalidArgumentError, op, f"seed must be >= 0, got {seed}")
    return seed


def _real(v: Any, op: str, what: str) -> float:
    if isinstance(v, Tensor) or not isinstance(v, numbers.Real):
        raise op_error(InvalidArgumentError, op, f"{what} must be a Python or numpy number, "
                       f"got {v!r}")
    return v.item() if isinstance(v, np.generic) else type_cast(float, v)


def normal(shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = None,
           seed: int | None = None) -> Tensor:
    """Samples of the normal distribution N(``mean``, ``stddev``²); a ``seed`` gives the same
    values on every call and run, no seed draws from the generator ``set_seed`` reseeds.

    >>> import graphexec as gx
    >>> x = gx.random.normal((2, 3), seed=0)
    >>> x.shape, x.dtype
    ((2, 3), dtype('float32'))
    >>> bool((x.numpy() == gx.random.normal((2, 3), seed=0).numpy()).all())
    True
    """
    dt = _dtype(dtype, "normal")
    if dt.kind != "f":
        raise op_error(DTypeError, "normal", f"dtype must be a float type, got {dt}")
    mean, stddev = _real(mean, "normal", "mean"), _real(stddev, "normal", "stddev")
    if stddev < 0:
        raise op_error(InvalidArgumentError, "normal", f"stddev must be >= 0, got {stddev}")
    return apply(random_normal_p, shape=_shape(shape, "normal"), mean=mean,
                 stddev=stddev, dtype=dt, seed=_seed(seed, "normal"))


def uniform(shape: Any, minval: float = 0.0, maxval: float = 1.0, dtype: Any = None,
            seed: int | None = None) -> Tensor:
    """Samples of the uniform distribution on ``[minval, maxval)``; an integer ``dtype``
    needs integer bounds. Seeds work as in :func:`normal`.

    >>> import graphexec as gx
    >>> x = gx.random.uniform((1000,), -1.0, 1.0, seed=3).numpy()
    >>> bool((x >= -1).all() and (x < 1).all()), x.dtype
    (True, dtype('float32'))
    """
    dt = _dtype(dtype, "uniform")
    minval, maxval = _real(minval, "uniform", "minval"), _real(maxval, "uniform", "maxval")
    if dt.kind in "iu":
        if not (isinstance(minval, int) and isinstance(maxval, int)):
            raise op_error(InvalidArgumentError, "uniform", f"an integer dtype ({dt}) needs "
                           f"integer minval and maxval, got {minval!r} and {maxval!r}")
        if minval >= maxval:
            raise op_error(InvalidArgumentError, "uniform", f"minval {minval} must be < "
                           f"maxval {maxval} for an integer dtype")
    elif dt.kind != "f":
        raise op_error(DTypeError, "uniform", f"dtype must be a float or integer type, got {dt}")
    return apply(random_uniform_p, shape=_shape(shape, "uniform"), minval=minval,
                 maxval=maxval, dtype=dt, seed=_seed(seed, "uniform"))
