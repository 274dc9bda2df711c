"""``gx.layers``: Keras-style layers over NHWC tensors, and ``Sequential``.

A layer creates its variables once, on its first call, from the shape of that input (always
eagerly, so the weights are concrete even when the first call happens inside a graph block),
and runs its body under ``gx.name_scope(layer.name)``, so its graph nodes read
``dense/matmul``.  Inputs are cast to the layer's ``dtype`` (the default float dtype,
``gx.config.floatx()``, unless given).

>>> import numpy as np, graphexec as gx
>>> layer = gx.layers.Dense(3, activation="relu", seed=0, name="hidden")
>>> layer(np.ones((2, 4), "float32")).shape
(2, 3)
>>> [v.name for v in layer.variables], layer.count_params()
(['hidden/kernel', 'hidden/bias'], 15)
"""

from __future__ import annotations

import inspect
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from typing import cast as type_cast  # ``cast`` is the tensor op, imported below

import numpy as np

from . import config, weights
from .context import eager, name_scope
from .errors import InvalidArgumentError, ShapeError, op_error
from .ops.array import cast, gather, reshape
from .ops.linalg import matmul
from .ops.math import max as reduce_max
from .ops.math import mean, rsqrt, square
from .ops.nn import (
    _conv_pads,
    _pair,
    avg_pool2d,
    batch_norm,
    conv2d,
    dropout_mask_p,
    elu,
    gelu,
    hard_sigmoid,
    leaky_relu,
    max_pool2d,
    relu,
    selu,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from .ops.pad import MODES, pad
from .ops.state import Variable
from .registry import fmt_shape, short_dtype
from .tensor import Tensor, apply, as_tensor

__all__ = [
    "Layer", "Dense", "Conv2D", "MaxPool2D", "AvgPool2D", "Flatten", "Pad2D", "ZeroPadding2D",
    "Dropout", "BatchNormalization", "LayerNormalization", "Embedding",
    "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Sequential", "get_activation",
    "get_initializer", "assign_variables", "check_variables",
]

#: the version of the weights files ``save_weights`` writes (safetensors with these names)
WEIGHTS_VERSION = "1.0"

# ---------------------------------------------------------------------------------------------
# activations and initializers

_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax, "gelu": gelu,
    "leaky_relu": leaky_relu, "elu": elu, "selu": selu, "softplus": softplus, "silu": silu,
    "swish": silu, "hard_sigmoid": hard_sigmoid, "linear": lambda x: x,
}


def get_activation(activation: str | Callable[[Tensor], Tensor] | None
                   ) -> Callable[[Tensor], Tensor]:
    """The activation function named ``activation`` (``None`` = ``"linear"``), or the
    callable itself.

    >>> import graphexec as gx
    >>> gx.layers.get_activation("relu")(gx.constant([-1.0, 2.0])).numpy()
    array([0., 2.], dtype=float32)
    """
    if activation is None:
        return _ACTIVATIONS["linear"]
    if callable(activation):
        return activation
    fn = _ACTIVATIONS.get(activation.lower() if isinstance(activation, str) else activation)
    if fn is None:
        raise op_error(InvalidArgumentError, "activation", f"unknown activation {activation!r}; "
                       f"choose one of {', '.join(_ACTIVATIONS)} or pass a callable")
    return fn


Initializer = Callable[[tuple[int, ...], np.dtype, np.random.Generator], np.ndarray]


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Keras' fan-in and fan-out: a conv kernel counts its receptive field in both."""
    if len(shape) < 2:
        n = shape[0] if shape else 1
        return n, n
    field = math.prod(shape[:-2])
    return shape[-2] * field, shape[-1] * field


def _glorot_uniform(shape, dtype, rng):
    limit = math.sqrt(6 / sum(_fans(shape)))
    return rng.uniform(-limit, limit, shape)


def _he_normal(shape, dtype, rng):
    # NOTE: Keras draws from a normal truncated at 2 stddev; 0.8796... is the stddev of
    # that truncated unit normal, so dividing by it restores the variance 2 / fan_in
    std = math.sqrt(2 / _fans(shape)[0]) / 0.87962566103423978
    z = rng.standard_normal(shape)
    while (bad := np.abs(z) > 2).any():
        z[bad] = rng.standard_normal(np.count_nonzero(bad))
    return z * std


_INITIALIZERS: dict[str, Initializer] = {
    "glorot_uniform": _glorot_uniform,
    "he_normal": _he_normal,
    "zeros": lambda shape, dtype, rng: np.zeros(shape),
    "ones": lambda shape, dtype, rng: np.ones(shape),
    "normal": lambda shape, dtype, rng: rng.normal(0.0, 0.05, shape),  # Keras' RandomNormal
    "uniform": lambda shape, dtype, rng: rng.uniform(-0.05, 0.05, shape),  # RandomUniform
}


def get_initializer(init: str | Callable[..., Any]) -> Initializer:
    """The initializer named ``init``, or a callable ``(shape, dtype) -> array``, as a function
    ``(shape, dtype, rng) -> numpy array``.

    >>> import numpy as np, graphexec as gx
    >>> rng = np.random.default_rng(0)
    >>> gx.layers.get_initializer("ones")((2,), np.dtype("float32"), rng)
    array([1., 1.])
    >>> gx.layers.get_initializer(lambda shape, dtype: np.full(shape, 0.5))((2,), None, rng)
    array([0.5, 0.5])
    """
    if callable(init):
        return lambda shape, dtype, rng: np.asarray(init(shape, dtype))
    fn = _INITIALIZERS.get(init.lower() if isinstance(init, str) else init)
    if fn is None:
        raise op_error(InvalidArgumentError, "initializer", f"unknown initializer {init!r}; "
                       f"choose one of {', '.join(_INITIALIZERS)} or pass a callable")
    return fn


# ---------------------------------------------------------------------------------------------
# the base class

_NAME_COUNTS: Counter[str] = Counter()


def _snake(name: str) -> str:
    """Keras' snake case of a class name: Dense -> dense, MaxPool2D -> max_pool2d."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _unique_name(base: str) -> str:
    n = _NAME_COUNTS[base]
    _NAME_COUNTS[base] += 1
    return base if n == 0 else f"{base}_{n}"


class Layer:
    """Base class: subclasses define ``build(input_shape)`` (create variables with
    ``add_weight``) and ``call(x)``.

    >>> import numpy as np, graphexec as gx
    >>> class Scale(gx.layers.Layer):
    ...     def build(self, input_shape):
    ...         self.w = self.add_weight("w", input_shape[-1:], gx.layers.get_initializer("ones"),
    ...                                  np.random.default_rng(0))
    ...     def call(self, x):
    ...         return x * self.w
    >>> layer = Scale(name="scale")
    >>> layer(np.full((1, 2), 3.0, "float32")).numpy()
    array([[3., 3.]], dtype=float32)
    >>> [v.name for v in layer.variables], layer.count_params()
    (['scale/w'], 2)
    """

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        self.name = name or _unique_name(_snake(type(self).__name__))
        self.dtype = config.floatx() if dtype is None else np.dtype(dtype)
        self.built = False
        self.output_shape: tuple[int | None, ...] | None = None
        self._weights: dict[str, Variable] = {}  # by the names add_weight was given

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """Create the variables for inputs of ``input_shape`` (runs once, eagerly, on the
        first call; see the example of ``Layer``).  The base class creates none."""

    def call(self, x: Tensor) -> Tensor:
        """The layer's computation on ``x``; subclasses define it (with a ``training``
        argument if they behave differently in training).  Call the layer itself, not
        ``call``, so that it is built first and its nodes are named in its scope."""
        raise NotImplementedError

    def __call__(self, x: Any, training: bool | None = False) -> Tensor:
        """Build the layer on its first input (eagerly, even in graph mode), then run ``call``
        under ``gx.name_scope(self.name)``; records ``output_shape``.  ``training`` (Keras's
        convention, a Python bool) reaches a ``call`` that takes it: Dropout drops and
        BatchNormalization uses and updates batch statistics only in training.

        >>> import graphexec as gx
        >>> dense = gx.layers.Dense(2, seed=0, name="d")
        >>> with gx.graph() as g:
        ...     y = dense(gx.placeholder((None, 3), "float32", name="x"))
        >>> dense.built, y.name, dense.output_shape
        (True, 'd/add', (None, 2))
        """
        x = as_tensor(x)
        training = False if training is None else training  # NOTE: Keras's None: inference
        if not isinstance(training, bool | np.bool_):
            raise op_error(InvalidArgumentError, self.name, f"training must be a Python bool, "
                           f"got {type(training).__name__} (in a gx.function, pass it as a "
                           "Python argument: each value is its own trace)")
        with name_scope(self.name):
            if not self.built:
                with eager():
                    self.build(tuple(x.shape))
                self.built = True
            call: Callable[..., Tensor] = self.call
            out = (call(x, training=bool(training)) if _takes_training(type(self).call)
                   else call(x))
        self.output_shape = tuple(out.shape)
        return out

    def add_weight(self, name: str, shape: tuple[int, ...], initializer: Initializer,
                   rng: np.random.Generator, trainable: bool = True) -> Variable:
        """Create and track a variable ``name`` of ``shape`` in the layer's dtype, with the
        value ``initializer(shape, dtype, rng)`` (see ``get_initializer``); call it from
        ``build``.

        >>> import numpy as np, graphexec as gx
        >>> layer = gx.layers.Layer(name="demo")
        >>> zeros, rng = gx.layers.get_initializer("zeros"), np.random.default_rng(0)
        >>> w = layer.add_weight("w", (2, 3), zeros, rng)
        >>> w.name, w.shape, w.dtype
        ('w', (2, 3), dtype('float32'))
        """
        value = np.asarray(initializer(shape, self.dtype, rng))
        if value.shape != shape:
            raise op_error(ShapeError, self.name, f"initializer of {name} gave shape "
                           f"{fmt_shape(value.shape)}, expected {fmt_shape(shape)}")
        if name in self._weights:
            raise op_error(InvalidArgumentError, self.name, f"has a weight named {name!r} "
                           "already")
        v = Variable(value, dtype=self.dtype, name=name, trainable=trainable)
        self._weights[name] = v
        return v

    @property
    def variables(self) -> list[Variable]:
        """The layer's variables, its own in creation order, then those of the layers it
        holds (empty until it is built); a variable shared by two layers is listed once.

        >>> import numpy as np, graphexec as gx
        >>> layer = gx.layers.Dense(2, name="d")
        >>> before = layer.variables
        >>> _ = layer(np.ones((1, 3), "float32"))
        >>> before, [v.name for v in layer.variables]
        ([], ['d/kernel', 'd/bias'])
        """
        return list(self.named_variables().values())

    def named_variables(self) -> dict[str, Variable]:
        """The variables by structural name: a weight's own name (``kernel``), under the
        attribute path of the layer holding it (``layers.0.kernel`` in a ``Sequential``,
        ``encoder.bias`` for a layer kept in ``self.encoder``), as PyTorch's ``state_dict``
        names them.  The names depend on the model's structure only, not on how many layers
        were made before it, so weights saved from one instance load into another.

        >>> import numpy as np, graphexec as gx
        >>> model = gx.layers.Sequential([gx.layers.Dense(4), gx.layers.Dense(2)])
        >>> _ = model(np.ones((1, 3), "float32"))
        >>> list(model.named_variables())
        ['layers.0.kernel', 'layers.0.bias', 'layers.1.kernel', 'layers.1.bias']
        """
        out: dict[str, Variable] = {}
        seen: set[int] = set()  # the layers and the variables named already
        stack: list[tuple[str, Layer]] = [("", self)]
        while stack:
            prefix, layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            for key, v in layer._weights.items():
                if id(v) not in seen:
                    seen.add(id(v))
                    out[prefix + key] = v
            stack += [(f"{prefix}{path}.", sub) for path, sub in _sublayers(layer)][::-1]
        return out

    def save_weights(self, path: Any) -> None:
        """Write the variables (``named_variables``) to the safetensors file ``path``.

        >>> import numpy as np, pathlib, tempfile, graphexec as gx
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.safetensors"
        >>> a, b = gx.layers.Dense(2, seed=0), gx.layers.Dense(2, seed=1)
        >>> x = np.ones((1, 3), "float32")
        >>> _ = a(x), b(x)
        >>> a.save_weights(path)
        >>> b.load_weights(path)
        >>> bool((a(x).numpy() == b(x).numpy()).all())
        True
        """
        named = self._built_variables("save_weights")
        weights.save_file({k: v.numpy() for k, v in named.items()}, path,
                          {"format": "graphexec.weights", "format_version": WEIGHTS_VERSION,
                           "model": type(self).__name__})

    def load_weights(self, path: Any, strict: bool = True) -> None:
        """Set the variables from the safetensors file ``path`` (``save_weights`` writes one;
        so does ``safetensors`` or PyTorch with the same names).  Every variable must be in
        the file with its shape and dtype, and (``strict``) every tensor of the file must be
        one of the variables; otherwise nothing is set and the error names each mismatch."""
        named = self._built_variables("load_weights")
        tensors, _ = weights.load_file(path)
        assign_variables(named, tensors, f"{self.name}.load_weights({str(path)!r})", strict)

    def _built_variables(self, what: str) -> dict[str, Variable]:
        named = self.named_variables()
        if not self.built and not named:
            raise op_error(InvalidArgumentError, self.name, f"{what}: the layer has no "
                           "variables yet; they are made on its first call: call it on an "
                           "input of the right shape first")
        return named

    @property
    def trainable_variables(self) -> list[Variable]:
        """The variables created with ``trainable=True``.

        >>> import numpy as np, graphexec as gx
        >>> layer = gx.layers.Layer(name="demo")
        >>> zeros, rng = gx.layers.get_initializer("zeros"), np.random.default_rng(0)
        >>> _ = layer.add_weight("w", (2,), zeros, rng)
        >>> _ = layer.add_weight("n", (3,), zeros, rng, trainable=False)
        >>> [v.name for v in layer.variables], [v.name for v in layer.trainable_variables]
        (['w', 'n'], ['w'])
        """
        return [v for v in self.variables if v.trainable]

    def count_params(self) -> int:
        """Number of elements in all the layer's variables.

        >>> import numpy as np, graphexec as gx
        >>> layer = gx.layers.Dense(4, name="d")
        >>> _ = layer(np.ones((1, 3), "float32"))
        >>> layer.count_params()  # 3 * 4 kernel + 4 bias
        16
        """
        return sum(_size(v) for v in self.variables)

    def _input(self, x: Tensor) -> Tensor:
        return x if x.dtype == self.dtype else cast(x, self.dtype)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}{'' if self.built else ' (unbuilt)'}>"


def _sublayers(layer: Layer) -> list[tuple[str, Layer]]:
    """The layers ``layer`` holds in its attributes (directly, or in lists, tuples and dicts,
    nested or not), with their paths (``heads.a``, ``blocks.0.1``), in attribute order."""
    out: list[tuple[str, Layer]] = []
    stack: list[tuple[str, Any]] = list(vars(layer).items())[::-1]
    while stack:
        path, value = stack.pop()
        if isinstance(value, Layer):
            out.append((path, value))
        elif isinstance(value, list | tuple):
            stack += [(f"{path}.{i}", v) for i, v in enumerate(value)][::-1]
        elif isinstance(value, dict):
            stack += [(f"{path}.{k}", v) for k, v in value.items()][::-1]
    return out


def assign_variables(named: Mapping[str, Variable], tensors: Mapping[str, Any], source: str,
                     strict: bool = True) -> None:
    """Set each variable of ``named`` to the array of the same name in ``tensors``, after
    checking all of them: a variable missing from ``tensors``, a shape or dtype that differs,
    or (``strict``) a tensor that is no variable is an InvalidArgumentError naming each, and
    then no variable is changed.

    >>> import numpy as np, graphexec as gx
    >>> v = gx.Variable(np.zeros(2, "float32"), name="v")
    >>> gx.layers.assign_variables({"v": v}, {"v": np.zeros(3, "float32")}, "demo")
    Traceback (most recent call last):
        ...
    graphexec.errors.InvalidArgumentError: demo: v: the file has f32[3], the variable is f32[2]
    """
    check_variables(named, tensors, source, strict)
    with eager():
        for name, var in named.items():
            var.assign(tensors[name])


def check_variables(named: Mapping[str, Any], tensors: Mapping[str, Any], source: str,
                    strict: bool = True) -> None:
    """What ``assign_variables`` checks, changing nothing: ``named`` maps each name to what
    has the shape and dtype the tensor must have (a Variable, or what a Variable would be)."""
    problems = []
    for name, var in named.items():
        arr = tensors.get(name)
        if arr is None:
            problems.append(f"{name}: not in the file (the variable is {_fmt(var)})")
        elif arr.shape != var.shape or arr.dtype != var.dtype:
            problems.append(f"{name}: the file has {_fmt(arr)}, the variable is {_fmt(var)}")
    if strict:
        problems += [f"{name}: in the file ({_fmt(arr)}), but no variable has this name"
                     for name, arr in tensors.items() if name not in named]
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more"
                                           if len(problems) > 8 else "")
        raise InvalidArgumentError(f"{source}: {shown}")


def _fmt(x: Any) -> str:
    return f"{short_dtype(np.dtype(x.dtype))}{list(x.shape)}".replace(" ", "")


def _takes_training(call: Any) -> bool:
    hit = _TRAINING.get(call)
    if hit is None:
        hit = _TRAINING[call] = "training" in inspect.signature(call).parameters
    return hit


_TRAINING: dict[Any, bool] = {}


def _size(v: Variable) -> int:
    """Number of elements of ``v`` (a variable's shape is always fully known)."""
    return int(np.prod(type_cast("tuple[int, ...]", v.shape)))


def _positive(layer: str, what: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v <= 0:
        raise op_error(InvalidArgumentError, layer, f"{what} must be a positive int, got {v!r}")
    return int(v)


def _choice(layer: str, what: str, v: Any, choices: tuple[str, ...]) -> str:
    s = v.lower() if isinstance(v, str) else v
    if s not in choices:
        raise op_error(InvalidArgumentError, layer, f"unknown {what} {v!r}; choose one of "
                       f"{', '.join(choices)}")
    return s


# ---------------------------------------------------------------------------------------------
# layers with weights

class _KernelLayer(Layer):
    """A layer computing ``activation(f(x, kernel) + bias)``: Dense and Conv2D."""

    def __init__(self, activation: str | Callable[[Tensor], Tensor] | None, use_bias: bool,
                 kernel_initializer: Any, bias_initializer: Any, seed: int | None, dtype: Any,
                 name: str | None) -> None:
        super().__init__(name, dtype)
        self.activation = get_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = get_initializer(kernel_initializer)
        self.bias_initializer = get_initializer(bias_initializer)
        self.seed = seed
        self.kernel: Variable | None = None
        self.bias: Variable | None = None

    def _build_kernel_bias(self, kernel_shape: tuple[int, ...]) -> None:
        rng = np.random.default_rng(self.seed)
        self.kernel = self.add_weight("kernel", kernel_shape, self.kernel_initializer, rng)
        if self.use_bias:
            self.bias = self.add_weight("bias", kernel_shape[-1:], self.bias_initializer, rng)

    def _bias_activation(self, y: Tensor) -> Tensor:
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)


class Dense(_KernelLayer):
    """``activation(x @ kernel + bias)`` over the last axis of ``x``.

    >>> import numpy as np, graphexec as gx
    >>> layer = gx.layers.Dense(2, kernel_initializer="ones", bias_initializer="ones")
    >>> layer(np.ones((1, 3), "float32")).numpy()
    array([[4., 4.]], dtype=float32)
    """

    def __init__(self, units: int, activation: str | Callable[[Tensor], Tensor] | None = None,
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", seed: int | None = None,
                 dtype: Any = None, name: str | None = None) -> None:
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, seed, dtype,
                         name)
        self.units = _positive(self.name, "units", units)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """Create ``kernel`` of shape ``(input_shape[-1], units)`` and ``bias`` of ``(units,)``."""
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise op_error(ShapeError, self.name, f"input {fmt_shape(input_shape)} must have "
                           "rank >= 2 and a known last dim to build the layer")
        self._build_kernel_bias((input_shape[-1], self.units))

    def call(self, x: Tensor) -> Tensor:
        """``activation(x @ kernel + bias)``."""
        return self._bias_activation(matmul(self._input(x), self.kernel))


class Conv2D(_KernelLayer):
    """2-D convolution of NHWC inputs with ``filters`` output channels.

    ``padding="same"`` pads the border TF's way (output ``ceil(in / stride)``) with ``gx.pad``
    in ``padding_mode`` ("constant" zeros, "reflect", "symmetric", "edge" or "wrap"; PyTorch's
    "zeros", "replicate" and "circular" name the same) before a VALID convolution;
    ``"valid"`` does not pad, and a padding mode other than zeros with it is an error.

    >>> import numpy as np, graphexec as gx
    >>> conv = gx.layers.Conv2D(4, 3, padding="same", padding_mode="reflect", seed=0)
    >>> conv(np.ones((1, 5, 5, 2), "float32")).shape
    (1, 5, 5, 4)
    """

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 padding_mode: str = "constant",
                 activation: str | Callable[[Tensor], Tensor] | None = None,
                 use_bias: bool = True, dilation_rate: Any = 1,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 seed: int | None = None, dtype: Any = None,
                 name: str | None = None) -> None:
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, seed, dtype,
                         name)
        self.filters = _positive(self.name, "filters", filters)
        self.kernel_size = _pair(self.name, "kernel_size", kernel_size)
        self.strides = _pair(self.name, "strides", strides)
        self.dilation_rate = _pair(self.name, "dilation_rate", dilation_rate)
        self.padding = _choice(self.name, "padding", padding, ("valid", "same"))
        mode = _PYTORCH_MODES.get(padding_mode, padding_mode) if isinstance(
            padding_mode, str) else padding_mode
        self.padding_mode = _choice(self.name, "padding_mode", mode,
                                    ("constant", "reflect", "symmetric", "edge", "wrap"))
        if self.padding == "valid" and self.padding_mode != "constant":
            raise op_error(InvalidArgumentError, self.name, f"padding_mode={padding_mode!r} "
                           "pads nothing with padding='valid': use padding='same'")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """Create ``kernel`` of shape ``(kh, kw, in_channels, filters)`` and ``bias`` of
        ``(filters,)``."""
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise op_error(ShapeError, self.name, f"input {fmt_shape(input_shape)} must be NHWC "
                           "(rank 4) with a known channel dim to build the layer")
        self._build_kernel_bias((*self.kernel_size, input_shape[-1], self.filters))

    def call(self, x: Tensor) -> Tensor:
        """``activation(conv2d(pad(x), kernel) + bias)``."""
        x = self._input(x)
        if self.padding == "same":
            assert self.kernel is not None  # built by __call__ before call
            (t, b), (left, r) = _conv_pads(x, self.kernel, "SAME", self.strides,
                                           self.dilation_rate)
            if t or b or left or r:
                x = pad(x, [[0, 0], [t, b], [left, r], [0, 0]], mode=self.padding_mode)
        return self._bias_activation(conv2d(x, self.kernel, self.strides, "VALID",
                                            self.dilation_rate))


#: PyTorch's names of the padding modes
_PYTORCH_MODES = {"zeros": "constant", "replicate": "edge", "circular": "wrap"}


class Embedding(Layer):
    """Row ``i`` of a ``(input_dim, output_dim)`` table for each integer ``i`` of the input
    (``gx.gather``: a negative index counts from the end, and one outside
    ``[-input_dim, input_dim)`` is an error when it runs).

    >>> import numpy as np, graphexec as gx
    >>> emb = gx.layers.Embedding(10, 3, seed=0)
    >>> emb(np.array([[1, 2], [9, 1]])).shape
    (2, 2, 3)
    """

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: Any = "uniform",
                 seed: int | None = None, dtype: Any = None, name: str | None = None) -> None:
        super().__init__(name, dtype)
        self.input_dim = _positive(self.name, "input_dim", input_dim)
        self.output_dim = _positive(self.name, "output_dim", output_dim)
        self.embeddings_initializer = get_initializer(embeddings_initializer)
        self.seed = seed
        self.embeddings: Variable | None = None

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """Create ``embeddings`` of shape ``(input_dim, output_dim)``."""
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer,
                                          np.random.default_rng(self.seed))

    def call(self, x: Tensor) -> Tensor:
        """The rows of the table at the integer indices ``x``."""
        if np.dtype(x.dtype).kind not in "iu":
            raise op_error(InvalidArgumentError, self.name, f"indices must be integers, got "
                           f"{x.dtype}")
        return gather(self.embeddings, x)


# ---------------------------------------------------------------------------------------------
# layers without weights

class GlobalAveragePooling2D(Layer):
    """The mean over the spatial axes of NHWC inputs: ``(N, H, W, C) -> (N, C)``.

    >>> import numpy as np, graphexec as gx
    >>> gx.layers.GlobalAveragePooling2D()(np.arange(8.0).reshape(1, 2, 2, 2)).numpy()
    array([[3., 4.]], dtype=float32)
    """

    _reduce = staticmethod(mean)

    def call(self, x: Tensor) -> Tensor:
        """The reduction over axes 1 and 2."""
        if x.ndim != 4:
            raise op_error(ShapeError, self.name, f"input {fmt_shape(x.shape)} must be NHWC "
                           "(rank 4)")
        return type(self)._reduce(self._input(x), (1, 2))


class GlobalMaxPooling2D(GlobalAveragePooling2D):
    """The maximum over the spatial axes of NHWC inputs: ``(N, H, W, C) -> (N, C)``.

    >>> import numpy as np, graphexec as gx
    >>> gx.layers.GlobalMaxPooling2D()(np.arange(8.0).reshape(1, 2, 2, 2)).numpy()
    array([[6., 7.]], dtype=float32)
    """

    _reduce = staticmethod(reduce_max)


class MaxPool2D(Layer):
    """Max pooling of NHWC inputs over ``pool_size`` windows (``strides`` default to it).

    >>> import numpy as np, graphexec as gx
    >>> gx.layers.MaxPool2D()(np.ones((1, 4, 4, 3))).shape
    (1, 2, 2, 3)
    """

    _fn = staticmethod(max_pool2d)

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid",
                 name: str | None = None) -> None:
        super().__init__(name)
        self.pool_size = _pair(self.name, "pool_size", pool_size)
        self.strides = self.pool_size if strides is None else _pair(self.name, "strides",
                                                                      strides)
        self.padding = _choice(self.name, "padding", padding, ("valid", "same"))

    def call(self, x: Tensor) -> Tensor:
        """The pooled ``x``."""
        return self._fn(x, self.pool_size, self.strides, self.padding.upper())


class AvgPool2D(MaxPool2D):
    """Average pooling of NHWC inputs; with ``padding="same"`` border windows average only
    the elements inside the input, as in Keras.

    >>> import numpy as np, graphexec as gx
    >>> gx.layers.AvgPool2D(3, strides=1, padding="same")(np.ones((1, 4, 4, 1))).shape
    (1, 4, 4, 1)
    """

    _fn = staticmethod(avg_pool2d)


class Flatten(Layer):
    """Collapse every axis but the first (the batch) into one.

    >>> import numpy as np, graphexec as gx
    >>> gx.layers.Flatten()(np.ones((2, 3, 4))).shape
    (2, 12)
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)

    def call(self, x: Tensor) -> Tensor:
        """``x`` reshaped to ``(batch, -1)``."""
        if not x.shape:
            raise op_error(ShapeError, self.name, "cannot flatten a scalar: the input needs a "
                           "batch axis")
        rest = x.shape[1:]
        if None not in rest:
            return reshape(x, (-1, math.prod(type_cast("tuple[int, ...]", rest))))
        if x.shape[0] is not None:
            return reshape(x, (x.shape[0], -1))
        raise op_error(ShapeError, self.name, f"input {fmt_shape(x.shape)}: flattening needs "
                       "either the batch dim or all the other dims known at build time")


def _pad2d_pairs(layer: str, padding: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """Keras' ZeroPadding2D forms: an int, ``(h, w)``, or ``((top, bottom), (left, right))``."""
    try:
        p = np.asarray(padding)
    except ValueError:  # ragged
        p = np.zeros(0)
    if p.dtype.kind in "iu" and (p >= 0).all():
        if p.shape == ():
            return (int(p),) * 2, (int(p),) * 2
        if p.shape == (2,):
            return (int(p[0]),) * 2, (int(p[1]),) * 2
        if p.shape == (2, 2):
            return (int(p[0, 0]), int(p[0, 1])), (int(p[1, 0]), int(p[1, 1]))
    raise op_error(InvalidArgumentError, layer, f"padding {padding!r}: expected a non-negative "
                   "int, (h, w), or ((top, bottom), (left, right))")


class Pad2D(Layer):
    """Pad the height and width of NHWC inputs with ``gx.pad`` in ``mode`` ("constant" zeros,
    "reflect", "symmetric", "edge" or "wrap").

    >>> import numpy as np, graphexec as gx
    >>> x = np.arange(3.0).reshape(1, 1, 3, 1)
    >>> gx.layers.Pad2D((0, 2), mode="reflect")(x).numpy()[0, 0, :, 0]
    array([2., 1., 0., 1., 2., 1., 0.])
    """

    def __init__(self, padding: Any = 1, mode: str = "constant", name: str | None = None) -> None:
        super().__init__(name)
        self.padding = _pad2d_pairs(self.name, padding)
        self.mode = _choice(self.name, "mode", mode, MODES)

    def call(self, x: Tensor) -> Tensor:
        """The padded ``x``."""
        if x.ndim != 4:
            raise op_error(ShapeError, self.name, f"input {fmt_shape(x.shape)} must be NHWC "
                           "(rank 4)")
        (t, b), (left, r) = self.padding
        return pad(x, [[0, 0], [t, b], [left, r], [0, 0]], mode=self.mode)


class ZeroPadding2D(Pad2D):
    """Pad the height and width of NHWC inputs with zeros (Keras' ZeroPadding2D).

    >>> import numpy as np, graphexec as gx
    >>> gx.layers.ZeroPadding2D(((1, 0), (2, 1)))(np.ones((1, 2, 2, 3))).shape
    (1, 3, 5, 3)
    """

    def __init__(self, padding: Any = 1, name: str | None = None) -> None:
        super().__init__(padding, "constant", name)


# ---------------------------------------------------------------------------------------------
# layers that train differently: Dropout, BatchNormalization; and LayerNormalization

class Dropout(Layer):
    """In training, each element is zeroed with probability ``rate`` and the others scaled by
    ``1 / (1 - rate)``; at inference, the identity.  The mask of the ``k``-th training call
    is a function of ``(seed, k)`` (a step count the layer keeps in a Variable), so eager and
    graph mode, and every device, drop the same elements at the same step.

    >>> import numpy as np, graphexec as gx
    >>> drop = gx.layers.Dropout(0.5, seed=0)
    >>> x = np.ones((2, 4), "float32")
    >>> drop(x).numpy().tolist() == x.tolist(), drop(x, training=True).numpy()
    (True, array([[2., 0., 0., 0.],
           [2., 2., 2., 2.]], dtype=float32))
    """

    def __init__(self, rate: float, seed: int | None = None, name: str | None = None) -> None:
        super().__init__(name)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate < 1:
            raise op_error(InvalidArgumentError, self.name, f"rate must be in [0, 1), got "
                           f"{rate!r}")
        self.rate = float(rate)
        self.seed = int(np.random.default_rng().integers(2**31)) if seed is None else int(seed)
        self.step: Variable | None = None

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """Create ``step``, the count of training calls (an int64 scalar, not trainable)."""
        self.step = Variable(np.int64(0), name="step", trainable=False)
        self._weights["step"] = self.step

    def call(self, x: Tensor, training: bool = False) -> Tensor:
        """``x`` times the mask of this step (training), else ``x``."""
        if not training or self.rate == 0.0:
            return x
        assert self.step is not None
        mask = apply(dropout_mask_p, x, self.step, rate=self.rate, seed=self.seed)
        self.step.assign_add(np.int64(1))
        return x * mask


class BatchNormalization(Layer):
    """Normalizes each channel (the last axis) by statistics, then scales by ``gamma`` and
    shifts by ``beta``.  In training it uses the batch's mean and (biased) variance and
    updates ``moving_mean`` and ``moving_variance`` (non-trainable Variables) in the same
    step: ``moving = moving * momentum + batch * (1 - momentum)``.  At inference it uses the
    moving statistics (``gx.nn.batch_norm``, one op, which graph optimization folds into a
    preceding Dense or Conv2D).

    >>> import numpy as np, graphexec as gx
    >>> bn = gx.layers.BatchNormalization(momentum=0.5, epsilon=0.0)
    >>> x = np.array([[1.0, 2.0], [3.0, 6.0]], "float32")
    >>> bn(x, training=True).numpy(), bn.moving_mean.numpy()
    (array([[-1., -1.],
           [ 1.,  1.]], dtype=float32), array([1., 2.], dtype=float32))
    """

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, dtype: Any = None, name: str | None = None) -> None:
        super().__init__(name, dtype)
        if isinstance(momentum, bool) or not isinstance(momentum, int | float) or not (
                0 <= momentum <= 1):
            raise op_error(InvalidArgumentError, self.name, f"momentum must be in [0, 1], got "
                           f"{momentum!r}")
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.gamma: Any = None
        self.beta: Any = None
        self.moving_mean: Any = None
        self.moving_variance: Any = None

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """Create ``gamma``, ``beta`` (trainable) and the moving statistics for the last
        axis."""
        if not input_shape or input_shape[-1] is None:
            raise op_error(ShapeError, self.name, f"input {fmt_shape(input_shape)} needs a "
                           "known last dim (the channels) to build the layer")
        c = (int(input_shape[-1]),)
        rng = np.random.default_rng(0)
        ones, zeros = get_initializer("ones"), get_initializer("zeros")
        self.gamma = self.add_weight("gamma", c, ones, rng, trainable=self.scale)
        self.beta = self.add_weight("beta", c, zeros, rng, trainable=self.center)
        self.moving_mean = self.add_weight("moving_mean", c, zeros, rng, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", c, ones, rng,
                                               trainable=False)

    def call(self, x: Tensor, training: bool = False) -> Tensor:
        """Normalized by the batch's statistics (training) or the moving ones."""
        x = self._input(x)
        if not training:
            return batch_norm(x, self.moving_mean, self.moving_variance, self.gamma,
                              self.beta, self.epsilon)
        axes = tuple(range(x.ndim - 1))
        mu = mean(x, axes)
        var = mean(square(x - mu), axes)
        m = self.momentum
        self.moving_mean.assign(self.moving_mean * m + mu * (1.0 - m))
        self.moving_variance.assign(self.moving_variance * m + var * (1.0 - m))
        return (x - mu) * (self.gamma * rsqrt(var + self.epsilon)) + self.beta


class LayerNormalization(Layer):
    """Normalizes each sample over its last axis (its mean and biased variance), then scales
    by ``gamma`` and shifts by ``beta``; the same in training and inference.

    >>> import numpy as np, graphexec as gx
    >>> ln = gx.layers.LayerNormalization(epsilon=0.0)
    >>> ln(np.array([[1.0, 3.0], [2.0, 2.5]], "float32")).numpy()
    array([[-1., 1.],
           [-1., 1.]], dtype=float32)
    """

    def __init__(self, epsilon: float = 1e-3, dtype: Any = None,
                 name: str | None = None) -> None:
        super().__init__(name, dtype)
        self.epsilon = float(epsilon)
        self.gamma: Any = None
        self.beta: Any = None

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """Create ``gamma`` and ``beta`` for the last axis."""
        if not input_shape or input_shape[-1] is None:
            raise op_error(ShapeError, self.name, f"input {fmt_shape(input_shape)} needs a "
                           "known last dim to build the layer")
        rng = np.random.default_rng(0)
        c = (int(input_shape[-1]),)
        self.gamma = self.add_weight("gamma", c, get_initializer("ones"), rng)
        self.beta = self.add_weight("beta", c, get_initializer("zeros"), rng)

    def call(self, x: Tensor) -> Tensor:
        """``(x - mean) / sqrt(var + epsilon) * gamma + beta`` over the last axis."""
        x = self._input(x)
        mu = mean(x, -1, keepdims=True)
        var = mean(square(x - mu), -1, keepdims=True)
        return (x - mu) * rsqrt(var + self.epsilon) * self.gamma + self.beta


# ---------------------------------------------------------------------------------------------
# Sequential

class Sequential(Layer):
    """Layers applied one after the other, under the scope of the model's name.

    >>> import numpy as np, graphexec as gx
    >>> model = gx.nn.Sequential([gx.layers.Flatten(), gx.layers.Dense(2, seed=0)])
    >>> model(np.ones((4, 2, 3), "float32")).shape
    (4, 2)
    >>> len(model.variables), model.count_params()
    (2, 14)
    """

    def __init__(self, layers: Sequence[Layer] | None = None, name: str | None = None) -> None:
        super().__init__(name)
        self.layers: list[Layer] = []
        for layer in layers or ():
            self.add(layer)

    def add(self, layer: Layer) -> None:
        """Append ``layer`` to the model.

        >>> import graphexec as gx
        >>> model = gx.layers.Sequential(name="model")
        >>> model.add(gx.layers.Flatten(name="flat"))
        >>> [layer.name for layer in model.layers]
        ['flat']
        """
        if not isinstance(layer, Layer):
            raise op_error(InvalidArgumentError, self.name, f"can only add layers, got "
                           f"{type(layer).__name__}")
        self.layers.append(layer)

    def call(self, x: Tensor, training: bool = False) -> Tensor:
        """``x`` through every layer in turn (``training`` reaches each)."""
        for layer in self.layers:
            x = layer(x, training=training)
        return x

    def summary(self, print_fn: Callable[[str], Any] | None = print) -> str:
        """A table of the layers, their output shapes (as of their last call) and parameter
        counts; printed with ``print_fn`` (``None``: not printed) and returned.

        >>> import numpy as np, graphexec as gx
        >>> model = gx.layers.Sequential([gx.layers.Flatten(name="flat"),
        ...                               gx.layers.Dense(2, seed=0, name="out")], name="m")
        >>> _ = model(np.ones((4, 1, 3), "float32"))
        >>> _ = model.summary()
        Model: "m"
        =======================================
        Layer (type)    Output Shape    Param #
        ---------------------------------------
        flat (Flatten)  (4, 3)                0
        out (Dense)     (4, 2)                8
        =======================================
        Total params: 8
        Trainable params: 8
        Non-trainable params: 0
        """
        rows = [("Layer (type)", "Output Shape", "Param #")]
        for layer in self.layers:
            shape = "?" if layer.output_shape is None else fmt_shape(layer.output_shape)
            rows.append((f"{layer.name} ({type(layer).__name__})", shape,
                         f"{layer.count_params():,}"))
        w = [max(len(r[i]) for r in rows) + 2 for i in range(3)]
        line = [r[0].ljust(w[0]) + r[1].ljust(w[1]) + r[2].rjust(w[2]) for r in rows]
        rule = "=" * len(line[0])
        total = self.count_params()
        trainable = sum(_size(v) for v in self.trainable_variables)
        text = "\n".join([f'Model: "{self.name}"', rule, line[0], "-" * len(rule), *line[1:],
                          rule, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
                          f"Non-trainable params: {total - trainable:,}"])
        if print_fn is not None:
            print_fn(text)
        return text
