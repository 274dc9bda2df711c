"""graphexec's exception types and the helper that points errors at the user's line."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import FrameType

__all__ = [
    "GraphexecError",
    "ShapeError",
    "DTypeError",
    "GraphError",
    "ConcretizationError",
    "FeedError",
    "InvalidArgumentError",
    "ExecutionError",
    "FormatError",
    "MissingExtraError",
]

_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
#: frames that are never the user's line: graphexec's own, and contextlib's (the ``with``
#: statements of gx.graph(), gx.name_scope(), gx.control_dependencies() run through it)
_NOT_USER = (_PKG_DIR, os.path.splitext(contextlib.__file__)[0])


class GraphexecError(Exception):
    """Base class of every error graphexec raises on purpose.

    >>> import graphexec as gx
    >>> try:
    ...     gx.constant([1.0, 2.0]) + gx.constant([1.0, 2.0, 3.0])
    ... except gx.GraphexecError as e:
    ...     print(type(e).__name__)
    ShapeError
    """


class ShapeError(GraphexecError, ValueError):
    """Operand shapes do not fit the op (raised at build time in graph mode).

    >>> import graphexec as gx
    >>> gx.constant([1.0, 2.0]) + gx.constant([1.0, 2.0, 3.0])
    Traceback (most recent call last):
        ...
    graphexec.errors.ShapeError: add: cannot broadcast shapes (2,) and (3,) (dims 2 and 3 ...
    """


class DTypeError(GraphexecError, TypeError):
    """Operand dtypes do not fit the op, or data cannot take a dtype without loss.

    >>> import graphexec as gx
    >>> gx.Variable([1, 2], name="v").assign([0.5, 1.5])
    Traceback (most recent call last):
        ...
    graphexec.errors.DTypeError: assign to v: values of float64 cannot become int64 ...
    """


class InvalidArgumentError(GraphexecError, ValueError):
    """An attribute of an op is out of range or of the wrong kind (a bad pad mode, axis, ...).

    >>> import graphexec as gx
    >>> gx.sum(gx.constant([1.0, 2.0]), axis=3)
    Traceback (most recent call last):
        ...
    graphexec.errors.InvalidArgumentError: sum: axis 3 is out of range for a tensor of rank 1 ...
    """


class GraphError(GraphexecError):
    """A graph is used wrongly: tensors of two graphs mixed, a closed graph extended, ...

    >>> import graphexec as gx
    >>> with gx.graph():
    ...     x = gx.placeholder((2,), name="x")
    >>> x.numpy()
    Traceback (most recent call last):
        ...
    graphexec.errors.GraphError: tensor 'x' is symbolic (graph ...): it has no value until ...
    """


class ConcretizationError(GraphError, TypeError):
    """Python needed the value of a symbolic tensor (``if``, ``while``, ``bool()``,
    ``float()``, an index) while a graph was being traced: the message names the function,
    the line and the ways out (``gx.cond``/``gx.while_loop``, ``gx.where``, running eagerly),
    as JAX's ``ConcretizationTypeError``.

    >>> import numpy as np, graphexec as gx
    >>> @gx.function
    ... def f(x):
    ...     return x if x > 0 else -x
    >>> f(np.array(1.0))
    Traceback (most recent call last):
        ...
    graphexec.errors.ConcretizationError: f: Python's if, while, and, or or bool() on symbolic ...
    """


class FeedError(GraphError, ValueError):
    """A feed given to ``Graph.run`` is missing, unknown, or of the wrong shape or dtype.

    >>> import numpy as np, graphexec as gx
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((2,), "float32", name="x")
    ...     y = x * 2.0
    >>> g.run(y, {x: np.ones(3, "float32")})
    Traceback (most recent call last):
        ...
    graphexec.errors.FeedError: run: feed for placeholder 'x' has shape (3,); the placeholder ...
    """


class ExecutionError(GraphexecError, RuntimeError):
    """A kernel failed while running (a singular matrix, say); names the node and its line.

    >>> import graphexec as gx
    >>> gx.linalg.inv([[0.0, 0.0], [0.0, 0.0]])
    Traceback (most recent call last):
        ...
    graphexec.errors.ExecutionError: inv: LinAlgError: Singular matrix — at ...
    """


class DeviceError(GraphexecError, RuntimeError):
    """A device was asked for that this machine does not have (CuPy is installed, but it sees
    no CUDA GPU), or tensors on different devices met in one op.

    >>> import graphexec as gx
    >>> issubclass(gx.DeviceError, RuntimeError)
    True
    """


class FormatError(GraphexecError, ValueError):
    """A file is not what it claims to be: corrupt, truncated, of an unknown format version,
    or asking for more than it holds.  Loading never runs code from a file.

    >>> import graphexec as gx
    >>> gx.weights.loads(b"not a safetensors file")
    Traceback (most recent call last):
        ...
    graphexec.errors.FormatError: safetensors: the header says it is 7021991845529153390 bytes ...
    """


class MissingExtraError(GraphexecError, ImportError):
    """An optional dependency is missing; the message names the extra to install.

    >>> import graphexec as gx
    >>> issubclass(gx.MissingExtraError, ImportError)
    True
    """


def import_extra(module: str, extra: str, who: str) -> ModuleType:
    """The module ``module``, imported, or a MissingExtraError saying that ``who`` needs it and
    which extra installs it.

    >>> from graphexec.errors import import_extra
    >>> import_extra("json", "dev", "the docs").__name__
    'json'
    >>> import_extra("no_module", "dask", "gx.dask")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    graphexec.errors.MissingExtraError: gx.dask needs no_module: pip install 'graphexec[dask]' ...
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(f"{who} needs {module.split('.')[0]}: pip install "
                                f"'graphexec[{extra}]' ({e})") from None


#: where the ops being built come from when it is not the user's code (an imported model's
#: node): ``located`` sets it, and ``user_location`` gives it
_LOCATION: ContextVar[str | None] = ContextVar("graphexec_location", default=None)


@contextlib.contextmanager
def located(where: str) -> Iterator[None]:
    """Ops built in the block say they come from ``where`` (not from a line of Python): a
    model importer names the node of the file each op comes from.

    >>> from graphexec.errors import located, user_location
    >>> with located("model.onnx: node 'conv1'"):
    ...     user_location()
    "model.onnx: node 'conv1'"
    """
    token = _LOCATION.set(where)
    try:
        yield
    finally:
        _LOCATION.reset(token)


def user_location(skip: int = 1) -> str:
    """``file:line`` of the innermost stack frame outside the graphexec package (or what a
    ``located`` block says).

    >>> from graphexec.errors import user_location
    >>> user_location()
    '<doctest ...>:1'
    """
    where = _LOCATION.get()
    if where is not None:
        return where
    f: FrameType | None = sys._getframe(skip)
    while f is not None and f.f_code.co_filename.startswith(_NOT_USER):
        f = f.f_back
    if f is None:
        return "<unknown>"
    return f"{os.path.basename(f.f_code.co_filename)}:{f.f_lineno}"


_AT_RUN_TIME: dict[type, type] = {}


def at_run_time(cls: type[GraphexecError]) -> type[GraphexecError]:
    """``cls`` raised while a graph runs: a subclass of both ``cls`` and ExecutionError, so a
    shape error a feed with ``None`` dims causes is a ShapeError, as at build time, and still
    an ExecutionError.

    >>> from graphexec.errors import ExecutionError, ShapeError, at_run_time
    >>> issubclass(at_run_time(ShapeError), ShapeError), issubclass(at_run_time(ShapeError),
    ...                                                           ExecutionError)
    (True, True)
    """
    sub = _AT_RUN_TIME.get(cls)
    if sub is None:
        sub = _AT_RUN_TIME[cls] = type(cls.__name__, (cls, ExecutionError), {
            "__module__": cls.__module__, "__doc__": cls.__doc__,
            # NOTE: pickled as "at_run_time(cls)(message)": process pools can send it back
            "__reduce__": lambda self: (_run_time_error, (cls, self.args))})
    return sub


def _run_time_error(cls: type[GraphexecError], args: tuple[Any, ...]) -> GraphexecError:
    return at_run_time(cls)(*args)


def node_failed(node: str, loc: str, e: BaseException, op: Any = None, args: Any = (),
                attrs: Any = None) -> GraphexecError:
    """The error for a kernel of graph node ``node`` (created at ``loc``) that raised ``e``:
    the executor and the fused kernels word it alike, so an error reads the same at every
    optimization level.  Given the node's ``op`` and the arrays it got, an error its infer rule
    finds on those shapes (a ``None`` dim that did not fit) is raised as at build time.

    >>> from graphexec.errors import node_failed
    >>> node_failed("inv", "model.py:7", ValueError("singular"))
    ExecutionError("while running node 'inv': ValueError: singular — created at model.py:7")
    """
    if op is not None:
        try:
            op.infer(*args, **(attrs or {}))
        except GraphexecError as ie:
            return at_run_time(type(ie))(f"{op.name}: {ie} — at {loc} (while running node "
                                         f"{node!r})")
        except Exception:  # the infer rule cannot word it: the kernel's own text
            pass
    return ExecutionError(f"while running node {node!r}: {type(e).__name__}: {e} — created at "
                          f"{loc}")


def op_error(cls: type[GraphexecError], op: str, msg: str,
             loc: str | None = None) -> GraphexecError:
    """Build ``cls`` with the standard message ``op: msg — at file:line`` (the user's line
    unless ``loc`` is given).

    >>> from graphexec.errors import ShapeError, op_error
    >>> op_error(ShapeError, "demo", "bad shape", loc="model.py:3")
    ShapeError('demo: bad shape — at model.py:3')
    """
    return cls(f"{op}: {msg} — at {loc or user_location(2)}")
