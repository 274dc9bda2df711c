"""``gx.optimizers``: SGD, Adam, AdamW and RMSprop with the semantics and argument names of Keras.

Each optimizer writes its update once, with graphexec ops and ``Variable.assign``, so the same
math runs in both modes:

- eagerly, ``opt.apply(grads, variables)`` updates the variables now and returns ``None``;
- inside ``gx.graph()`` it adds the update to the graph and returns one op (``gx.group``)
  whose control inputs are every variable's ``assign`` and the step counter's: nothing changes
  until it runs, and each ``g.run(step_op, feeds)`` performs one whole step exactly once (the
  slot updates feed the variable updates through data dependencies).

Slots (``momentum``, ``velocity``) and the step counter ``iterations`` are non-trainable
Variables: a variable's slots are created, with its dtype and shape, the first time the
variable is updated — always eagerly, also when that happens inside a graph block.  Python
hyperparameters are weak-typed, so float32 variables stay float32.

>>> import numpy as np, graphexec as gx
>>> w = gx.Variable(np.array([1.0, 2.0], "float32"), name="w")
>>> opt = gx.optimizers.SGD(learning_rate=0.1)
>>> with gx.GradientTape() as tape:
...     loss = gx.sum(w * w)
>>> opt.apply(tape.gradient(loss, [w]), [w])
>>> w.numpy()
array([0.8, 1.6], dtype=float32)

The same step as a graph, built once and run twice:

>>> with gx.graph() as g:
...     loss = gx.sum(w * w)
...     step = opt.apply(gx.gradients(loss, [w]), [w])
>>> _ = g.run(step)
>>> _ = g.run(step)
>>> w.numpy().round(6), opt.iterations.numpy()
(array([0.512, 1.024], dtype=float32), array(3))
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .context import current_graph, eager, name_scope
from .device import CPU, device
from .errors import DTypeError, GraphError, InvalidArgumentError, ShapeError, op_error
from .graph import group
from .ops import math as _m
from .ops.array import cast
from .ops.state import Variable
from .registry import fmt_shape, shapes_match
from .tensor import Tensor, as_tensor

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop"]

Slots = dict[str, Variable]


def _hyper(owner: str, name: str, value: Any, low: float, high: float | None = None,
           high_open: bool = False) -> float:
    """``value`` as a Python float (weak-typed in every op), checked against its range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise op_error(InvalidArgumentError, owner,
                       f"{name} must be a real number, got {type(value).__name__} {value!r}")
    v = float(value)
    bad = (not np.isfinite(v) or v < low or (high is not None and v > high)
           or (high is not None and high_open and v == high))
    if bad:
        if high is None:
            bound = f">= {low:g}"
        else:
            bound = f"in [{low:g}, {high:g}{')' if high_open else ']'}"
        raise op_error(InvalidArgumentError, owner, f"{name} must be {bound}, got {v!r}")
    return v


class Optimizer:
    """Base class of the optimizers: slots, the step counter and ``apply``.

    A subclass names its slots in ``_slot_names`` and writes one variable's update in
    ``_update_step`` with graphexec ops and ``Variable.assign``, using the slots' new values
    (what their ``assign`` returns) and returning what the variable's ``assign`` returns.

    >>> import graphexec as gx
    >>> opt = gx.optimizers.Adam(learning_rate=0.01)
    >>> opt.iterations.numpy(), opt.variables
    (array(0), [Variable(0, name='adam/iteration', shape=(), dtype=int64)])
    """

    def __init__(self, learning_rate: float | Tensor, name: str) -> None:
        self.name = name
        self.learning_rate = learning_rate
        with eager():
            #: the number of steps applied so far (a non-trainable int64 Variable)
            self.iterations = Variable(np.array(0, np.int64), name=f"{name}/iteration",
                                       trainable=False)
        # id(variable) -> (variable, its slots by name); the variable keeps the id unique
        self._slots: dict[int, tuple[Variable, Slots]] = {}

    # -- hyperparameters ------------------------------------------------------------------
    @property
    def learning_rate(self) -> float | Tensor:
        """The step size: a Python float, or a scalar float tensor (a Variable, say, that
        a graph reads on every run, so assigning it changes the rate of a built graph).

        >>> import graphexec as gx
        >>> opt = gx.optimizers.SGD()
        >>> opt.learning_rate = 0.5
        >>> opt.learning_rate
        0.5
        """
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float | Tensor) -> None:
        if isinstance(value, Tensor):
            if value.shape != () or np.dtype(value.dtype).kind != "f":
                raise op_error(InvalidArgumentError, type(self).__name__,
                               "learning_rate must be a Python float or a 0-d float tensor, "
                               f"got a tensor of shape {fmt_shape(value.shape)} and dtype "
                               f"{value.dtype}")
            self._learning_rate: float | Tensor = value
        else:
            self._learning_rate = _hyper(type(self).__name__, "learning_rate", value, 0.0)

    def _step_learning_rate(self, dtype: np.dtype) -> Any:
        """The learning rate: a tensor rate cast to ``dtype`` (as Keras does), a Python rate
        as it is (weak-typed next to the variable's dtype)."""
        lr = self._learning_rate
        if isinstance(lr, Tensor):
            return lr if lr.dtype == dtype else cast(lr, dtype)
        return lr

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (a tensor learning rate as it is).

        >>> import graphexec as gx
        >>> gx.optimizers.SGD(0.1, momentum=0.9).get_config()
        {'name': 'SGD', 'learning_rate': 0.1, 'momentum': 0.9, 'nesterov': False}
        """
        return {"name": self.name, "learning_rate": self._learning_rate}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"

    # -- slots ----------------------------------------------------------------------------
    def _slot_names(self) -> tuple[str, ...]:
        """The slots each variable gets (may depend on the hyperparameters)."""
        return ()

    def _slots_for(self, var: Variable) -> Slots:
        entry = self._slots.get(id(var))
        if entry is None:
            base = var.var_name.replace("/", "_")
            # NOTE: a variable's slots live on its device
            with eager(), device(var.device or CPU):
                slots = {s: Variable(np.zeros(var.shape, var.dtype), name=f"{self.name}/{base}_{s}",
                                     trainable=False)
                         for s in self._slot_names()}
            entry = self._slots[id(var)] = (var, slots)
        return entry[1]

    def build(self, variables: Iterable[Variable]) -> None:
        """Create the slots of ``variables`` now (``apply`` creates missing ones itself).

        >>> import graphexec as gx
        >>> w = gx.Variable([1.0, 2.0], name="w")
        >>> opt = gx.optimizers.Adam()
        >>> opt.build([w])
        >>> [v.name for v in opt.variables]
        ['adam/iteration', 'adam/w_momentum', 'adam/w_velocity']
        """
        for var in variables:
            self._slots_for(self._check_variable(var))

    def get_slot(self, var: Variable, name: str) -> Variable:
        """The slot ``name`` of ``var`` (``"momentum"``, ``"velocity"``: see ``slot_names``).

        >>> import graphexec as gx
        >>> w = gx.Variable([1.0, 2.0], name="w")
        >>> opt = gx.optimizers.SGD(0.1, momentum=0.9)
        >>> opt.apply([gx.constant([1.0, 1.0])], [w])
        >>> opt.get_slot(w, "momentum").numpy()
        array([-0.1, -0.1], dtype=float32)
        """
        entry = self._slots.get(id(var))
        if entry is None:
            raise op_error(InvalidArgumentError, type(self).__name__,
                           f"variable {getattr(var, 'name', var)!r} has no slots yet: it was "
                           "never updated by this optimizer (or built with build)")
        if name not in entry[1]:
            raise op_error(InvalidArgumentError, type(self).__name__,
                           f"no slot {name!r}; the slots are {list(entry[1]) or 'none'}")
        return entry[1][name]

    @property
    def slotted_variables(self) -> list[Variable]:
        """The variables that have slots so far, in the order their slots were made.

        >>> import graphexec as gx
        >>> w = gx.Variable([1.0], name="w")
        >>> opt = gx.optimizers.SGD(momentum=0.9)
        >>> opt.build([w])
        >>> [v.name for v in opt.slotted_variables]
        ['w']
        """
        return [var for var, _ in self._slots.values()]

    @property
    def slot_names(self) -> list[str]:
        """The names of the slots each variable gets.

        >>> import graphexec as gx
        >>> gx.optimizers.RMSprop(momentum=0.9).slot_names
        ['velocity', 'momentum']
        """
        return list(self._slot_names())

    @property
    def variables(self) -> list[Variable]:
        """``iterations``, then every slot created so far (per variable, in creation order)."""
        return [self.iterations, *(s for _, slots in self._slots.values() for s in slots.values())]

    # -- the update -----------------------------------------------------------------------
    def _check_variable(self, var: Any) -> Variable:
        if not isinstance(var, Variable):
            raise op_error(InvalidArgumentError, type(self).__name__,
                           f"can only update gx.Variable objects, got {type(var).__name__}")
        if np.dtype(var.dtype).kind != "f":
            raise op_error(DTypeError, type(self).__name__,
                           f"variable {var.name!r} has dtype {var.dtype}; only floating "
                           "variables can be optimized")
        return var

    def _check_gradient(self, grad: Any, var: Variable) -> Tensor:
        owner = type(self).__name__
        g = current_graph()
        if isinstance(grad, Tensor):
            if grad._graph is not None and grad._graph is not g:
                where = ("this code runs eagerly" if g is None
                         else f"graph {g.name} is being built")
                raise op_error(GraphError, owner,
                               f"the gradient of {var.name!r} is a symbolic tensor of graph "
                               f"{grad._graph.name}, but {where}")
        else:
            grad = as_tensor(grad, var.dtype)
        if not shapes_match(grad.shape, var.shape):
            raise op_error(ShapeError, owner,
                           f"gradient shape {fmt_shape(grad.shape)} differs from the shape "
                           f"{fmt_shape(var.shape)} of variable {var.name!r}")
        return grad

    def apply(self, grads: Sequence[Any], variables: Sequence[Variable]) -> Tensor | None:
        """Apply one step of ``grads`` to ``variables`` (two lists of the same length).

        A ``None`` gradient leaves its variable (and its slots) alone; gradients of another
        dtype are cast to the variable's, as Keras does.  ``iterations`` counts the steps.

        Eagerly the variables change now and the result is ``None``.  Inside a graph block
        nothing changes yet: the result is one op (``gx.group``) that runs every variable's
        update (with its slots') and the step counter's: every ``g.run(step_op, feeds)``
        performs one step.  Reads of the variables built after ``apply`` see the new values.

        >>> import numpy as np, graphexec as gx
        >>> w = gx.Variable([1.0, -1.0], name="w")
        >>> opt = gx.optimizers.Adam(learning_rate=0.1)
        >>> with gx.graph() as g:
        ...     grad = gx.placeholder((2,), "float64", name="grad")
        ...     step = opt.apply([grad], [w])
        >>> for _ in range(3):
        ...     _ = g.run(step, {grad: np.array([0.5, -0.5])})
        >>> w.numpy(), opt.iterations.numpy()
        (array([ 0.7000035, -0.7000035], dtype=float32), array(3))
        """
        owner = type(self).__name__
        grads, variables = list(grads), list(variables)
        if len(grads) != len(variables):
            raise op_error(InvalidArgumentError, owner,
                           f"{len(grads)} gradients for {len(variables)} variables")
        pairs: list[tuple[Tensor, Variable]] = []
        seen: set[int] = set()
        for grad, var in zip(grads, variables, strict=True):
            var = self._check_variable(var)
            if id(var) in seen:
                raise op_error(InvalidArgumentError, owner,
                               f"variable {var.name!r} is listed twice")
            seen.add(id(var))
            if grad is not None:
                pairs.append((self._check_gradient(grad, var), var))
        if not pairs:
            raise op_error(InvalidArgumentError, owner,
                           f"no gradient for any of the {len(variables)} variables")
        slots = [self._slots_for(var) for _, var in pairs]  # eagerly, before any node
        with name_scope(self.name):
            step = self.iterations.assign_add(1)
            rates: dict[np.dtype, Any] = {}
            updates = []
            for (grad, var), var_slots in zip(pairs, slots, strict=True):
                dtype = var.dtype
                if grad.dtype != dtype:
                    grad = cast(grad, dtype)
                lr = rates.get(dtype)
                if lr is None:
                    lr = rates[dtype] = self._step_learning_rate(dtype)
                updates.append(self._update_step(grad, var, var_slots, lr, step))
            return None if current_graph() is None else group(step, *updates, name="step")

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Variable]]
                        ) -> Tensor | None:
        """``apply`` for a list of ``(gradient, variable)`` pairs, as Keras takes them.

        >>> import graphexec as gx
        >>> w = gx.Variable([1.0, 2.0], name="w")
        >>> gx.optimizers.SGD(0.5).apply_gradients([(gx.constant([1.0, 1.0]), w)])
        >>> w.numpy()
        array([0.5, 1.5], dtype=float32)
        """
        pairs = list(grads_and_vars)
        return self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def _update_step(self, grad: Tensor, var: Variable, slots: Slots, lr: Tensor,
                     step: Tensor) -> Tensor:
        """One variable's update: ``grad`` and ``lr`` have the variable's dtype, ``step`` is
        the 1-based step number (int64)."""
        raise NotImplementedError


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, as ``keras.optimizers.SGD``.

    Without momentum: ``w -= learning_rate * g``.  With it, a ``momentum`` slot ``m``:
    ``m = momentum * m - learning_rate * g``, then ``w += m``, or with ``nesterov=True``
    ``w += momentum * m - learning_rate * g``.

    >>> import graphexec as gx
    >>> w = gx.Variable([1.0, 2.0], name="w")
    >>> opt = gx.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.apply([gx.constant([1.0, 1.0])], [w])
    >>> w.numpy()
    array([0.71, 1.71], dtype=float32)
    """

    def __init__(self, learning_rate: float | Tensor = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, name: str = "SGD") -> None:
        super().__init__(learning_rate, name)
        self.momentum = _hyper("SGD", "momentum", momentum, 0.0, 1.0)
        self.nesterov = bool(nesterov)

    def _slot_names(self) -> tuple[str, ...]:
        return ("momentum",) if self.momentum != 0 else ()

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}

    def _update_step(self, grad: Tensor, var: Variable, slots: Slots, lr: Tensor,
                     step: Tensor) -> Tensor:
        if not slots:
            return var.assign_sub(grad * lr)
        m = slots["momentum"]
        m_t = m.assign(m * self.momentum - grad * lr)
        if self.nesterov:
            return var.assign_add(m_t * self.momentum - grad * lr)
        return var.assign_add(m_t)


class Adam(Optimizer):
    """Adam, as ``keras.optimizers.Adam`` (the "epsilon hat" form of Kingma and Ba).

    With slots ``momentum`` (m) and ``velocity`` (v) and the step number t:
    ``m += (g - m) * (1 - beta_1)``, ``v += (g**2 - v) * (1 - beta_2)``,
    ``w -= m * alpha / (sqrt(v) + epsilon)`` where
    ``alpha = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)``.

    >>> import graphexec as gx
    >>> w = gx.Variable([1.0, 2.0], name="w")
    >>> opt = gx.optimizers.Adam(learning_rate=0.1)
    >>> opt.apply([gx.constant([3.0, -0.5])], [w])
    >>> w.numpy()
    array([0.90000075, 2.0999987 ], dtype=float32)
    """

    def __init__(self, learning_rate: float | Tensor = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, name: str = "adam") -> None:
        super().__init__(learning_rate, name)
        owner = type(self).__name__
        self.beta_1 = _hyper(owner, "beta_1", beta_1, 0.0, 1.0, high_open=True)
        self.beta_2 = _hyper(owner, "beta_2", beta_2, 0.0, 1.0, high_open=True)
        self.epsilon = _hyper(owner, "epsilon", epsilon, 0.0)

    def _slot_names(self) -> tuple[str, ...]:
        return ("momentum", "velocity")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}

    def _start(self, var: Variable, lr: Tensor) -> Tensor:
        """The value the Adam step is subtracted from."""
        return var

    def _update_step(self, grad: Tensor, var: Variable, slots: Slots, lr: Tensor,
                     step: Tensor) -> Tensor:
        t = cast(step, var.dtype)
        beta_1_power = _m.pow(self.beta_1, t)
        beta_2_power = _m.pow(self.beta_2, t)
        alpha = lr * _m.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        m, v = slots["momentum"], slots["velocity"]
        m_t = m.assign_add((grad - m) * (1 - self.beta_1))
        v_t = v.assign_add((_m.square(grad) - v) * (1 - self.beta_2))
        return var.assign(self._start(var, lr) - m_t * alpha / (_m.sqrt(v_t) + self.epsilon))


class AdamW(Adam):
    """Adam with decoupled weight decay, as ``keras.optimizers.AdamW``.

    Each step first decays the variable, ``w -= learning_rate * weight_decay * w``, then takes
    the ``Adam`` step from the decayed value.

    >>> import graphexec as gx
    >>> w = gx.Variable([1.0, 2.0], name="w")
    >>> opt = gx.optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
    >>> opt.apply([gx.constant([3.0, -0.5])], [w])
    >>> w.numpy().round(4)
    array([0.85, 2.  ], dtype=float32)
    """

    def __init__(self, learning_rate: float | Tensor = 0.001, weight_decay: float = 0.004,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 name: str = "adamw") -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name)
        self.weight_decay = _hyper("AdamW", "weight_decay", weight_decay, 0.0)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        return {"name": config.pop("name"), "learning_rate": config.pop("learning_rate"),
                "weight_decay": self.weight_decay, **config}

    def _start(self, var: Variable, lr: Tensor) -> Tensor:
        return var - var * self.weight_decay * lr


class RMSprop(Optimizer):
    """RMSprop, as ``keras.optimizers.RMSprop`` (not centered).

    With a ``velocity`` slot v: ``v = rho * v + (1 - rho) * g**2`` and the increment
    ``d = learning_rate * g / sqrt(v + epsilon)``; then ``w -= d``, or with ``momentum > 0``
    and a ``momentum`` slot m: ``m = momentum * m + d``, ``w -= m``.

    >>> import graphexec as gx
    >>> w = gx.Variable([1.0, 2.0], name="w")
    >>> opt = gx.optimizers.RMSprop(learning_rate=0.01, rho=0.75)
    >>> opt.apply([gx.constant([2.0, -2.0])], [w])
    >>> w.numpy().round(6)
    array([0.98, 2.02], dtype=float32)
    """

    def __init__(self, learning_rate: float | Tensor = 0.001, rho: float = 0.9,
                 momentum: float = 0.0, epsilon: float = 1e-7, name: str = "rmsprop") -> None:
        super().__init__(learning_rate, name)
        self.rho = _hyper("RMSprop", "rho", rho, 0.0, 1.0, high_open=True)
        self.momentum = _hyper("RMSprop", "momentum", momentum, 0.0, 1.0)
        self.epsilon = _hyper("RMSprop", "epsilon", epsilon, 0.0)

    def _slot_names(self) -> tuple[str, ...]:
        return ("velocity", "momentum") if self.momentum > 0 else ("velocity",)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon}

    def _update_step(self, grad: Tensor, var: Variable, slots: Slots, lr: Tensor,
                     step: Tensor) -> Tensor:
        v = slots["velocity"]
        v_t = v.assign(self.rho * v + (1 - self.rho) * _m.square(grad))
        increment = lr * grad / _m.sqrt(v_t + self.epsilon)
        if "momentum" not in slots:
            return var.assign_sub(increment)
        m = slots["momentum"]
        m_t = m.assign(self.momentum * m + increment)
        return var.assign_sub(m_t)
