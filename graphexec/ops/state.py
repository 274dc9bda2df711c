"""State and source ops: ``Variable``, constants, placeholders, variable reads and assignments."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..context import _GRAPH, scope_prefix
from ..device import CPU, Device, current_device, device_of, to_device
from ..errors import DeviceError, DTypeError, GraphError, ShapeError, user_location
from ..registry import Spec, register, shapes_match
from ..tensor import Tensor, _frozen, apply, as_tensor, convert, host_array, to_numpy

__all__ = ["Variable", "static_value", "constant_p", "placeholder_p", "read_variable_p",
           "assign_p", "no_op_p"]


def _no_inputs(*specs, **attrs):
    raise AssertionError("source ops are never inferred through apply")


@register("constant", infer=_no_inputs, kind="source", arity=0)
def constant_p(xp, value):
    return xp.asarray(value)


@register("placeholder", infer=_no_inputs, kind="source", arity=0)
def placeholder_p(xp, shape, dtype):
    raise RuntimeError("a placeholder is fed, never executed")


@register("read_variable", infer=_no_inputs, kind="source", pure=False, arity=0)
def read_variable_p(xp, var):
    value = var._value
    if xp is np:
        if type(value) is not np.ndarray and device_of(value) != CPU:
            raise DeviceError(f"variable {var.var_name} is on {device_of(value)}, and the "
                              "graph reading it runs on the cpu: run it with device=... (a "
                              "gx.function runs where its variables are)")
        return value
    where, here = device_of(value), Device("cuda", xp.cuda.Device().id)
    if where != here and (where != CPU or np.ndim(value) > 0):
        # NOTE: as in eager mode, nothing moves between devices behind the user's back (a 0-d
        # host value, a step count, joins as a scalar)
        raise DeviceError(f"variable {var.var_name} is on {where}, and the graph reading it "
                          f"runs on {here}: make it there (under gx.device({str(here)!r}), or "
                          "from a tensor on it), or run the graph where it is")
    return xp.asarray(value)


@register("no_op", infer=_no_inputs, kind="source", pure=False, arity=0)
def no_op_p(xp):
    """What ``gx.group`` runs: nothing, after its control inputs; an empty float32 tensor."""
    return xp.zeros(0, xp.float32)


def _assign_infer(value: Spec, var: Variable) -> Spec:
    if value.dtype != var.dtype:
        raise DTypeError(f"value dtype {value.dtype} differs from variable {var.var_name}'s "
                         f"{var.dtype}")
    if not shapes_match(value.shape, var.shape):
        raise ShapeError(f"value shape {value.shape} differs from variable {var.var_name}'s "
                         f"{var.shape}")
    return Spec(tuple(var.shape), var.dtype)


@register("assign", infer=_assign_infer, pure=False, arity=1)
def assign_p(xp, value, var):
    if device_of(var._value) != CPU:  # NOTE: a device variable keeps its device, and a copy
        # of its own (device arrays have no read-only flag: a plan may reuse its buffers)
        var._value = to_device(xp.array(value), device_of(var._value), "assign")
        return value
    # NOTE: host variables are read-only arrays, so a fetched read cannot change one.  A
    # writable array that owns its memory is a fresh kernel result (feeds, constants and
    # variable reads reach kernels as read-only views): it is taken over without a copy.
    host = to_numpy(value)
    if type(host) is np.ndarray and host.flags.writeable and host.base is None:
        stored = host
    else:
        stored = np.array(host)  # also turns a 0-d kernel result into an array
    stored.flags.writeable = False
    var._value = stored
    return value


class Variable(Tensor):
    """A mutable tensor that keeps its value across steps and graph runs.

    >>> import graphexec as gx
    >>> v = gx.Variable([1.0, 2.0], name="v")
    >>> v.assign_add([1.0, 1.0]).numpy()
    array([2., 3.], dtype=float32)
    """

    __slots__ = ("trainable", "var_name")
    _count = 0
    #: per thread: how many Variables this thread has created (``gx.function`` checks that a
    #: retrace creates none; another thread's Variables must not count)
    _here = threading.local()

    def __init__(self, initial_value: Any, dtype: Any = None, name: str | None = None,
                 trainable: bool = True) -> None:
        if isinstance(initial_value, Tensor) and initial_value._graph is not None:
            raise GraphError(
                "Variable needs a concrete initial value, got symbolic tensor "
                f"{initial_value.name!r}; create it in eager mode (gx.eager())"
            )
        # NOTE: a private, read-only copy: fetched reads of it cannot change it behind its back.
        # It lives where its initial value does, or on gx.device's device for host data
        src = initial_value._value if isinstance(initial_value, Tensor) else initial_value
        dev = device_of(src)
        dev = current_device() if dev == CPU else dev
        host = host_array(initial_value, dtype)
        value = _frozen(host) if dev == CPU else to_device(host, dev, "Variable")
        super().__init__(value)
        Variable._count += 1
        Variable._here.count = getattr(Variable._here, "count", 0) + 1
        # NOTE: like tf.Variable, the name carries the enclosing name scopes (dense/kernel)
        self.var_name = scope_prefix() + (name or f"Variable_{Variable._count}")
        self.trainable = trainable

    @staticmethod
    def created_in_this_thread() -> int:
        """How many Variables the calling thread has created so far.

        >>> import graphexec as gx
        >>> n = gx.Variable.created_in_this_thread()
        >>> _ = gx.Variable(1.0)
        >>> gx.Variable.created_in_this_thread() - n
        1
        """
        return getattr(Variable._here, "count", 0)

    @property
    def name(self) -> str:
        """The variable's name, prefixed by the name scopes it was created in.

        >>> import graphexec as gx
        >>> with gx.name_scope("dense"):
        ...     v = gx.Variable(0.0, name="bias")
        >>> v.name
        'dense/bias'
        """
        return self.var_name

    def numpy(self) -> np.ndarray:
        """A copy of the current value (changing it does not change the variable).

        >>> import graphexec as gx
        >>> gx.Variable([1, 2], name="v").numpy()
        array([1, 2])
        """
        return to_numpy(self._value).copy()

    def value(self) -> Tensor:
        """The current value: an eager snapshot, or a read node in graph mode.

        >>> import graphexec as gx
        >>> v = gx.Variable([1.0, 2.0], name="v")
        >>> v.value()
        Tensor([1., 2.], shape=(2,), dtype=float32)
        >>> with gx.graph():
        ...     print(v.value().name)
        v
        """
        g = _GRAPH.get()
        return Tensor(self._value) if g is None else g.read_variable(self)

    def _checked(self, value: Any) -> Any:
        if isinstance(value, Tensor) and value._graph is not None:
            return value  # symbolic: the assign node's infer rule checks it
        what = f"assign to {self.var_name}"
        dev = device_of(self._value)
        if isinstance(value, Tensor):
            arr = value._value
            # NOTE: a tensor's array is graphexec's own and never written to: share it
            if dev == CPU and (type(arr) is np.ndarray and arr.dtype == self.dtype
                               and arr.base is None and arr.shape == self._value.shape):
                arr.flags.writeable = False
                return arr
            if (dev != CPU and device_of(arr) == dev and arr.dtype == self.dtype
                    and arr.shape == self._value.shape):
                return arr
        arr = convert(value, self.dtype, what, DTypeError)
        if arr.shape != self._value.shape:
            raise ShapeError(f"{what}: shape {arr.shape} differs from the variable's "
                             f"{self._value.shape} — at {user_location()}")
        # NOTE: assigning is an explicit transfer: the value goes to the variable's device
        return _frozen(arr) if dev == CPU else to_device(arr, dev, what)

    def assign(self, value: Any) -> Tensor:
        """Set the value (eager: now, returns the variable; graph: an ``assign`` node that sets
        it each time it runs).  The value keeps the variable's shape and dtype: data is
        converted only where no information is lost.

        >>> import graphexec as gx
        >>> v = gx.Variable([0.0, 0.0], name="v")
        >>> v.assign([1.0, 2.0]).numpy()
        array([1., 2.], dtype=float32)
        >>> with gx.graph() as g:
        ...     double = v.assign(v * 2.0)
        >>> g.run(double), g.run(double), v.numpy()
        (array([2., 4.], dtype=float32), array([4., 8.], dtype=float32),
         array([4., 8.], dtype=float32))
        """
        g = _GRAPH.get()
        value = self._checked(value)
        if g is None:
            if isinstance(value, Tensor):
                raise GraphError(f"assign to {self.var_name}: symbolic value {value.name!r} "
                                 "used in eager mode")
            self._value = value
            return self
        return apply(assign_p, as_tensor(value), var=self)

    def _on_my_device(self, delta: Any) -> Any:
        """Host data (not a tensor) for an update of an eager device variable, moved to it:
        updating is an explicit transfer, as assigning is."""
        if (isinstance(delta, Tensor) or _GRAPH.get() is not None
                or device_of(self._value) == CPU):
            return delta
        return Tensor(to_device(host_array(delta), device_of(self._value), self.var_name))

    def assign_add(self, delta: Any) -> Tensor:
        """``assign(value() + delta)``.

        >>> import graphexec as gx
        >>> gx.Variable([1.0, 2.0], name="v").assign_add(0.5).numpy()
        array([1.5, 2.5], dtype=float32)
        """
        return self.assign(self.value() + self._on_my_device(delta))

    def assign_sub(self, delta: Any) -> Tensor:
        """``assign(value() - delta)``.

        >>> import graphexec as gx
        >>> gx.Variable([1.0, 2.0], name="v").assign_sub([1.0, 1.0]).numpy()
        array([0., 1.], dtype=float32)
        """
        return self.assign(self.value() - self._on_my_device(delta))

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="Variable(")
        return f"Variable({body}, name={self.var_name!r}, shape={self.shape}, dtype={self.dtype})"


def static_value(x: Any) -> np.ndarray | None:
    """The value of ``x`` if it is known while the program is built, else ``None``: Python and
    numpy data, eager tensors, and constant nodes of a graph (a Variable read inside a graph is
    only known when the graph runs).

    >>> import graphexec as gx
    >>> from graphexec.ops.state import static_value
    >>> with gx.graph():
    ...     c = gx.constant([1.0, 2.0])
    ...     x = gx.placeholder((2,), name="x")
    ...     print(static_value(c), static_value(x))
    [1. 2.] None
    """
    if not isinstance(x, Tensor):
        return np.asarray(x)
    if x._graph is None:
        return None if isinstance(x, Variable) and _GRAPH.get() is not None else x.numpy()
    d = x._graph.nx.nodes[x._node]
    return d["attrs"]["value"] if d["op"] is constant_p else None
