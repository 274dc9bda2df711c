"""Graphs on a Dask cluster (the ``dask`` extra): batch inference over a ``dask.array``
chunked along the batch axis (``map_batches``) and data-parallel training (``DataParallel``).

A Dask task costs 0.2–1 ms and graphexec's ops take microseconds, so a task never runs one op:
it runs a whole compiled graph on one chunk or shard.  Graphs travel to the workers as
graphexec's own graph files (``gx.save``), as bytes, once per worker; each worker loads a file
once and keeps it, by the SHA-256 of its bytes (the 8 files used last; ``clear_cache`` forgets
them).  No generated code and no graph object is ever pickled.  See ``docs/scaling.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import inspect
import itertools
import operator
import os
import pathlib
import tempfile
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from . import io, tree
from .autodiff import GradientTape
from .compiler import CompiledGraph
from .errors import ExecutionError, GraphexecError, InvalidArgumentError, import_extra
from .function import Function, TensorSpec
from .graph import Graph
from .io import Program
from .ir import Ref, needed_nodes
from .layers import Layer
from .ops.state import Variable, assign_p, read_variable_p
from .optimizers import Optimizer
from .registry import Spec, fmt_shape
from .tensor import Tensor

if TYPE_CHECKING:
    import distributed

__all__ = ["map_batches", "DataParallel", "StepStats", "ClusterError", "WorkerError",
           "require", "clear_cache"]


class ClusterError(GraphexecError, RuntimeError):
    """Work on the cluster failed as a whole (a shard that failed beyond its retries, a
    timeout, no workers, a lost cluster or a closed client): a training step that raises it
    changed no weight.

    >>> import graphexec as gx
    >>> issubclass(gx.dask.ClusterError, gx.GraphexecError)
    True
    """


class WorkerError(ClusterError):
    """A worker cannot run graphexec: it cannot import it, or cannot load a graph file.  The
    message names the worker.

    >>> import graphexec as gx
    >>> issubclass(gx.dask.WorkerError, gx.dask.ClusterError)
    True
    """


def require(module: str = "distributed") -> ModuleType:
    """The module ``module`` (``"dask.array"``, ``"distributed"``, ...), or a
    MissingExtraError naming the extra to install.

    >>> from graphexec.dask import require
    >>> require("dask.array").__name__
    'dask.array'
    """
    return import_extra(module, "dask", "gx.dask")


# ---------------------------------------------------------------------------------------------
# graph files as bytes, loaded once per worker

#: the Programs this process loaded, by the SHA-256 of their files: the newest used last
_PROGRAMS: OrderedDict[str, tuple[Program, threading.Lock]] = OrderedDict()
_PROGRAMS_LOCK = threading.Lock()
_KEEP = 8


def clear_cache() -> int:
    """Forget the graph files this process loaded (the next task that needs one loads it
    again); the number forgotten.  On a cluster's workers: ``client.run(gx.dask.clear_cache)``.

    >>> import graphexec as gx
    >>> gx.dask.clear_cache() >= 0
    True
    """
    with _PROGRAMS_LOCK:
        n = len(_PROGRAMS)
        _PROGRAMS.clear()
    return n


def _pack(program: Program) -> tuple[bytes, str]:
    """The graph file of ``program`` as bytes, and their SHA-256."""
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "program.gx"
        io.save(program, path)
        blob = path.read_bytes()
    return blob, hashlib.sha256(blob).hexdigest()


def _where() -> str:
    """The worker this code runs on, for error messages."""
    try:
        from distributed import get_worker

        return f"worker {get_worker().address}"
    except (ImportError, ValueError):
        return f"the local process (pid {os.getpid()})"


def _program(blob: bytes, digest: str) -> tuple[Program, threading.Lock]:
    """The Program of graph file ``blob`` (loaded on the first call in this process, and kept
    among the ``_KEEP`` used last), and the lock that serializes the runs which set its
    Variables."""
    with _PROGRAMS_LOCK:
        hit = _PROGRAMS.get(digest)
        if hit is not None:
            _PROGRAMS.move_to_end(digest)
            return hit
    try:  # NOTE: outside the lock: a load does not hold up the tasks of other files
        with tempfile.TemporaryDirectory() as d:
            path = pathlib.Path(d) / f"{digest[:16]}.gx"
            path.write_bytes(blob)
            program = io.load(path)
    except Exception as e:
        raise WorkerError(f"{_where()}: cannot load graph file {digest[:12]} "
                          f"({len(blob)} bytes): {type(e).__name__}: {e}") from None
    with _PROGRAMS_LOCK:  # NOTE: the first of two threads that loaded it at once wins
        hit = _PROGRAMS.setdefault(digest, (program, threading.Lock()))
        _PROGRAMS.move_to_end(digest)
        while len(_PROGRAMS) > _KEEP:
            _PROGRAMS.popitem(last=False)
    return hit


def _run(program: Program, arrays: Sequence[Any], level: int | None) -> list[Any]:
    """The results of ``program`` for its inputs ``arrays`` (in order), flat, as arrays."""
    feeds = dict(zip(program.inputs.values(), arrays, strict=True))
    values = (program.graph.run(list(program.outputs), feeds,
                                optimize=program.level if level is None else level)
              if program.outputs else [])
    return [values[r] if isinstance(r, int) else r.value for r in program.results]


def _probe() -> int:
    """Runs on a worker: being unpickled there is the check that it imports graphexec."""
    return os.getpid()


#: per client, the workers known to import graphexec (an address that leaves is forgotten, so
#: a worker that comes back at it is checked again)
_CHECKED: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _cluster(what: str, client: Any, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)``, with any error but graphexec's own as a ClusterError (a lost
    cluster, a closed client)."""
    try:
        return call(*args, **kwargs)
    except GraphexecError:
        raise
    except Exception as e:
        raise ClusterError(f"{what}: cannot reach the cluster of {client}: "
                           f"{type(e).__name__}: {e}") from e


#: the seconds ``DataParallel`` waits for a first worker to join a cluster that has none (one
#: still starting)
_JOIN_WAIT = 10.0


def _workers(client: distributed.Client, what: str = "gx.dask", wait: float = 0.0) -> list[str]:
    """The addresses of ``client``'s workers (waiting up to ``wait`` seconds for a first one
    where there is none yet); each new one is checked, once, to import graphexec (a
    WorkerError names any that cannot).  A worker that cannot be reached during the check (it
    died) is asked again until the scheduler no longer lists it."""
    checked = _CHECKED.setdefault(client, set())
    gone: dict[str, BaseException] = {}
    for attempt in range(5):
        if attempt:
            time.sleep(0.1 * 2 ** (attempt - 1))
        workers = sorted(_cluster(what, client, client.nthreads))
        if not workers and wait > 0 and not attempt:
            with contextlib.suppress(Exception):  # NOTE: a timeout; a lost cluster fails below
                client.wait_for_workers(1, timeout=wait)
            workers = sorted(_cluster(what, client, client.nthreads))
        checked.intersection_update(workers)
        if not workers:
            waited = (f" (none joined within {wait:g} s)" if wait > 0 and not attempt else "")
            raise ClusterError(f"{what}: the cluster of {client} has no workers{waited}: start "
                               "some, or wait for them (client.wait_for_workers(n))")
        new = [w for w in workers if w not in checked]
        if not new:
            return workers
        got = _cluster(what, client, client.run, _probe, workers=new, on_error="return")
        gone = {w: e for w, e in got.items() if isinstance(e, OSError)}  # NOTE: comm errors
        bad = {w: e for w, e in got.items() if isinstance(e, BaseException) and w not in gone}
        if bad:
            w, e = next(iter(bad.items()))
            more = f" (and {len(bad) - 1} more worker(s))" if len(bad) > 1 else ""
            # NOTE: the probe only returns a pid: what fails there is unpickling it, i.e.
            # importing graphexec (Dask reports it as an Exception wrapping the ImportError)
            raise WorkerError(f"worker {w} cannot import graphexec{more}: {e}; install "
                              "graphexec in every worker's environment (pip install "
                              "'graphexec[dask]')")
        checked.update(w for w in new if w not in gone)
        if not gone:
            return workers
    w, e = next(iter(gone.items()))
    raise ClusterError(f"{what}: worker {w} went away while it was checked to import graphexec "
                       f"({type(e).__name__}: {e}), and the scheduler still lists it")


def _default_client() -> Any:
    """The current ``distributed.Client``, if distributed is installed and one is running."""
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


#: the batch sizes a graph's shapes are inferred again for, to see which results follow the batch
_PROBE_ROWS = (9973, 99991)


def _specs_for(program: Program, rows: int, refs: Sequence[Ref]) -> list[Spec | str]:
    """The specs of outputs ``refs`` of ``program`` when every input has ``rows`` rows (each
    op's infer rule again); where a rule fails, what it said, for every output depending on
    it."""
    g = program.graph
    given = {(n, 0): Spec((rows, *g.spec((n, 0)).shape[1:]), g.spec((n, 0)).dtype)
             for n in program.inputs.values() if g.spec((n, 0)).shape}
    return g.infer_again(given, refs, failures=True)


def _follow_batch(program: Program, refs: Sequence[Ref]) -> list[tuple[bool | None, str]]:
    """For each output of ``refs``, whether its axis 0 is the batch (it has as many rows as
    the inputs, for two batch sizes), None where the graph cannot tell (an infer rule fails
    for those sizes); and what it is for the first size, or why the graph cannot tell."""
    got = [_specs_for(program, n, refs) for n in _PROBE_ROWS]
    out: list[tuple[bool | None, str]] = []
    for k in range(len(refs)):
        specs = [sp[k] for sp in got]
        bad = [x for x in specs if isinstance(x, str)]
        if bad:
            out.append((None, f"its shapes cannot be inferred for inputs of another number of "
                              f"rows ({bad[0]})"))
        else:
            out.append((all(cast(Spec, sp).shape[:1] == (n,) for sp, n in zip(
                specs, _PROBE_ROWS, strict=True)), f"{specs[0]!r} for inputs of "
                f"{_PROBE_ROWS[0]} rows"))
    return out


# ---------------------------------------------------------------------------------------------
# batch inference


def _chunk_task(blob: bytes, digest: str, level: int | None, shapes: tuple[tuple[int, ...], ...],
                *blocks: Any) -> Any:
    """One task of ``map_batches``: the whole graph on one chunk of each input; each result
    must be shaped ``(rows, *shapes[i])``, as the dask arrays say."""
    program, _ = _program(blob, digest)
    outs = _run(program, blocks, level)
    rows = np.shape(blocks[0])[0]
    for i, (out, shape) in enumerate(zip(outs, shapes, strict=True)):
        if np.shape(out) != (rows, *shape):
            raise InvalidArgumentError(
                f"map_batches: result {i} of {program.graph.name} has shape {np.shape(out)} "
                f"for a chunk of {rows} rows, where the dask array has {(rows, *shape)}: each "
                "result must have the batch as its axis 0")
    return outs[0] if len(outs) == 1 else tuple(outs)


def _check_arrays(arrays: Sequence[Any], da: ModuleType) -> None:
    if not arrays:
        raise InvalidArgumentError("map_batches: give the graph's inputs as dask arrays")
    for i, x in enumerate(arrays):
        if not isinstance(x, da.Array) or x.ndim == 0:
            raise InvalidArgumentError(
                f"map_batches: input {i} is a {type(x).__name__}, not a dask array with a batch "
                "axis: wrap it with dask.array.from_array(x, chunks=(rows, ...))")
        shape = fmt_shape(x.shape)
        unknown = [a for a in range(1, x.ndim) if np.isnan(x.shape[a])]
        if unknown:
            raise InvalidArgumentError(f"map_batches: input {i} of shape {shape} has an unknown "
                                       f"size on axis {unknown[0]}; a graph needs the sizes of "
                                       "every axis but the batch axis 0: call "
                                       "x.compute_chunk_sizes() first")
        if any(np.isnan(c) for c in x.chunks[0]):
            raise InvalidArgumentError(f"map_batches: input {i} of shape {shape} has chunks of "
                                       "unknown size: call x.compute_chunk_sizes() first")
        split = [a for a in range(1, x.ndim) if len(x.chunks[a]) > 1]
        if split:
            a = split[0]
            raise InvalidArgumentError(
                f"map_batches: input {i} of shape {shape} is chunked along axis {a} (chunks "
                f"{x.chunks[a]}); a graph runs on whole rows, one chunk of the batch axis 0 per "
                f"task: rechunk it with x.rechunk({{{a}: -1}})")
        if x.chunks[0] != arrays[0].chunks[0]:
            raise InvalidArgumentError(
                f"map_batches: input {i} of shape {shape} has chunks {x.chunks[0]} along the "
                f"batch axis, input 0 has {arrays[0].chunks[0]}: rechunk them alike")


def _batch_program(fn: Any, arrays: Sequence[Any]) -> Program:
    """``fn`` as a Program whose inputs take the arrays' rows; a function without an input
    signature is traced (not run) once, for batches of any size."""
    if isinstance(fn, Program | CompiledGraph | Graph):
        return io.as_program(fn)
    if not callable(fn):
        raise InvalidArgumentError(f"map_batches: {fn!r} is not a function, a compiled graph "
                                   "or a Program")
    if not (isinstance(fn, Function) and fn.input_signature is not None):
        specs = [TensorSpec((None, *x.shape[1:]), x.dtype) for x in arrays]
        fn = Function(fn, input_signature=specs)
    return io.as_program(fn)


def _check_specs(program: Program, arrays: Sequence[Any]) -> list[Spec]:
    """The results' specs; InvalidArgumentError where inputs or results do not fit rows."""
    name, specs = program.graph.name, list(program.input_specs.items())
    if len(specs) != len(arrays):
        raise InvalidArgumentError(f"map_batches: {name} takes {len(specs)} input(s) ("
                                   f"{', '.join(f'{n}: {s!r}' for n, s in specs)}); "
                                   f"{len(arrays)} array(s) given")
    for (inp, spec), x in zip(specs, arrays, strict=True):
        if spec.dtype != x.dtype or len(spec.shape) != x.ndim or not all(
                d is None or d == s for d, s in zip(spec.shape[1:], x.shape[1:], strict=True)):
            raise InvalidArgumentError(f"map_batches: input {inp} of {name} is {spec!r}; the "
                                       f"array is {Spec(x.shape, x.dtype)!r}")
        rows = spec.shape[0]
        if rows is not None and any(c != rows for c in x.chunks[0]):
            raise InvalidArgumentError(
                f"map_batches: input {inp} of {name} takes batches of exactly {rows} rows "
                f"({spec!r}), but the array's chunks along axis 0 are {x.chunks[0]}: rechunk it "
                f"to {rows} rows per chunk, or trace the function for batches of any size "
                f"(gx.TensorSpec({fmt_shape((None, *spec.shape[1:]))}))")
    rows = specs[0][1].shape[0]
    if not program.results:
        raise InvalidArgumentError(f"map_batches: {name} returns nothing to compute")
    refs = [program.outputs[r] for r in program.results if isinstance(r, int)]
    follows = _follow_batch(program, refs)
    paths, out = program.treedef.paths(), cast(list[Spec], [])
    for i, r in enumerate(program.results):
        what = f"result {i}{f' ({paths[i]})' if paths[i] else ''} of {name}"
        if not isinstance(r, int):
            raise InvalidArgumentError(f"map_batches: {what} is a constant ({r.value!r}), not "
                                       "computed from the batch")
        spec = program.graph.spec(program.outputs[r])
        need = (f"each result must have the batch as its axis 0 (inputs of {specs[0][1]!r}: "
                "one row per input row) and known sizes on the others")
        if not spec.shape or None in spec.shape[1:]:
            raise InvalidArgumentError(f"map_batches: {what} is {spec!r}; {need}")
        ok, why = follows[len(out)]
        if ok is None and rows is not None and spec.shape[0] == rows:
            ok = True  # NOTE: a graph for one batch size, which knows its shapes exactly
        if not ok:
            raise InvalidArgumentError(f"map_batches: {what} is {spec!r}, and {why}: "
                                       f"{'its axis 0 is not the batch; ' if ok is False else ''}"
                                       f"{need}")
        out.append(spec)
    return out


def map_batches(fn: Any, *arrays: Any, optimize: int | None = None,
                client: distributed.Client | None = None) -> Any:
    """Run ``fn`` on every chunk of ``arrays`` — dask arrays chunked along the batch axis 0
    only, alike — as a lazy ``dask.array`` of its results (the structure ``fn`` returns: one
    array, a tuple, a dict).  One task per chunk runs the whole graph.

    ``fn`` is a ``gx.function`` or any function of tensors (a model, say), traced — not run —
    for batches of any size unless it has an input signature; a compiled graph or a Program
    (``gx.load``) is used as it is, and one with a fixed batch size needs chunks of that size.
    Each result must have one row per input row: the graph's shapes are inferred again for two
    other batch sizes, and a result whose axis 0 does not follow them (``reshape(x, (-1,))``,
    ``x[1:]``, a concat along axis 0, a reduction over the batch) is an InvalidArgumentError
    that names it; each task checks its results' shapes too.  Chunks of 0 rows are fine.
    Each chunk is a batch of its own: a result with one row per input row that depends on
    other rows (``x - gx.mean(x, axis=0)``, a batch statistic) is computed per chunk, with
    the chunk's statistic, not the whole array's.
    The graph is saved with its Variables' current values and travels to the workers as a
    graph file, once per worker: as one key of the task graph, or, given a ``client``,
    scattered to its workers now (the results are then computed by that client).  The
    results' ``meta`` (dtype, shape) comes from the graph's specs: nothing runs until they are
    computed, with any Dask scheduler, the threaded one or a ``distributed.Client``'s.  The
    workers of ``client`` (default: of the current client, if any) are checked to import
    graphexec.  ``optimize`` is the level the workers run at (default the graph's).

    >>> import numpy as np, dask.array as da, graphexec as gx
    >>> w = gx.Variable(np.eye(3, 2, dtype="float32"), name="w")
    >>> predict = gx.function(lambda x: gx.nn.relu(x @ w - 1.0))
    >>> x = da.from_array(np.arange(15, dtype="float32").reshape(5, 3), chunks=(2, 3))
    >>> y = gx.dask.map_batches(predict, x)
    >>> y.shape, y.dtype, y.chunks
    ((5, 2), dtype('float32'), ((2, 2, 1), (2,)))
    >>> y.compute(scheduler="threads")[:, 0]
    array([ 0.,  2.,  5.,  8., 11.], dtype=float32)
    """
    da, dask = require("dask.array"), require("dask")
    _check_arrays(arrays, da)
    program = _batch_program(fn, arrays)
    specs = _check_specs(program, arrays)
    blob, digest = _pack(program)
    if client is None:  # NOTE: one key of the graph holds the file, for any scheduler
        file: Any = dask.delayed(blob, name=f"graphexec-program-{digest[:16]}")
        current = _default_client()
        if current is not None:
            _workers(current, "map_batches")
    else:  # on its workers already, not in the graph sent to the scheduler
        _workers(client, "map_batches")
        [file] = _cluster("map_batches", client, client.scatter, [blob], broadcast=True)
    name = f"{program.graph.name}-{dask.base.tokenize(digest, optimize, *arrays)}"
    shapes = tuple(tuple(cast(int, n) for n in s.shape[1:]) for s in specs)
    args: list[Any] = [file, None, digest, None, optimize, None, shapes, None]
    for i, x in enumerate(arrays):
        args += [x, ("batch", *[f"in{i}.{a}" for a in range(1, x.ndim)])]
    metas = [np.empty((0, *[int(d or 0) for d in s.shape[1:]]), s.dtype) for s in specs]
    if len(specs) == 1:
        dims = {f"out.{a}": n for a, n in enumerate(specs[0].shape) if a > 0}
        return program.treedef.unflatten([da.blockwise(
            _chunk_task, ("batch", *dims), *args, new_axes=dims, meta=metas[0],
            concatenate=True, name=name)])
    # NOTE: as dask.array.apply_gufunc does: one task per chunk gives a tuple, and each result
    # is an array of getitem tasks on it
    tmp = da.blockwise(_chunk_task, ("batch",), *args, meta=tuple(metas), concatenate=True,
                       name=name)
    from dask.highlevelgraph import HighLevelGraph

    outs = []
    for k, (spec, meta) in enumerate(zip(specs, metas, strict=True)):
        leaf, rest = f"{name}-{k}", (0,) * (len(spec.shape) - 1)
        dsk: dict[Any, Any] = {(leaf, i, *rest): (operator.getitem, (name, i), k)
                               for i in range(tmp.numblocks[0])}
        outs.append(da.Array(HighLevelGraph.from_collections(leaf, dsk, dependencies=[tmp]),
                             leaf, chunks=(tmp.chunks[0], *((n,) for n in spec.shape[1:])),
                             meta=meta))
    return program.treedef.unflatten(outs)


# ---------------------------------------------------------------------------------------------
# data-parallel training


@dataclass(frozen=True)
class StepStats:
    """What one data-parallel step moved and where its time went.

    ``bytes_sent`` counts the parameters broadcast to every worker, the shards (and the graph
    file, to every worker, on the first step); ``bytes_received`` the shards' results (their
    gradients and what the step returns).  ``seconds`` is the whole step as the client saw it,
    ``compute_seconds`` the slowest shard's graph run on its worker, ``update_seconds`` the
    combination and the optimizer's update on the client (on the first step, the check of the
    combined gradient too), and ``communication_seconds`` the rest: serialization, transfers
    and Dask's scheduling.

    >>> from graphexec.dask import StepStats
    >>> s = StepStats(3, 2, 2, 2_100_000, 1_050_000, 0.030, 0.010, 0.002)
    >>> round(s.communication_seconds, 3)
    0.018
    >>> print(s)  # doctest: +NORMALIZE_WHITESPACE
    step 3: 2 workers, 2 shards; sent 2.10 MB, received 1.05 MB;
    30.0 ms = 10.0 ms compute + 18.0 ms communication + 2.0 ms update
    """

    step: int
    workers: int
    shards: int
    bytes_sent: int
    bytes_received: int
    seconds: float
    compute_seconds: float
    update_seconds: float

    @property
    def communication_seconds(self) -> float:
        """The step's time outside the slowest shard's compute and the client's update."""
        return max(0.0, self.seconds - self.compute_seconds - self.update_seconds)

    def __str__(self) -> str:
        ms = [1e3 * t for t in (self.seconds, self.compute_seconds, self.communication_seconds,
                                self.update_seconds)]
        return (f"step {self.step}: {self.workers} workers, {self.shards} shards; sent "
                f"{self.bytes_sent / 1e6:.2f} MB, received {self.bytes_received / 1e6:.2f} MB; "
                f"{ms[0]:.1f} ms = {ms[1]:.1f} ms compute + {ms[2]:.1f} ms communication + "
                f"{ms[3]:.1f} ms update")


@dataclass(frozen=True)
class _Raised:
    """What a shard's task returns where the graph raised one of graphexec's own errors (not a
    ClusterError): the shard's data or the step is at fault, so running it again would fail
    again; the client raises it, as the same class (its module and name: strings pickle
    whatever the class's constructor takes)."""

    module: str
    name: str
    message: str
    where: str

    def error(self, step: int, shard: int) -> GraphexecError:
        """The error to raise on the client, of the worker's class where it can be made."""
        msg = (f"DataParallel: step {step} failed on {self.where}, shard {shard}: "
               f"{self.message}; the weights are unchanged (no gradient was applied)")
        try:
            cls: Any = importlib.import_module(self.module)
            for part in self.name.split("."):
                cls = getattr(cls, part)
            if isinstance(cls, type) and issubclass(cls, GraphexecError) and not issubclass(
                    cls, ClusterError):
                return cls(msg)
        except Exception:  # NOTE: a class this process lacks, or one made otherwise
            pass
        return ExecutionError(f"{self.name}: {msg}")


def _shard_task(blob: bytes, digest: str, params: dict[str, np.ndarray], level: int | None,
                *shard: np.ndarray) -> tuple[list[Any], float] | _Raised:
    """One shard of a training step, on a worker: the gradient graph with the step's
    parameters; its results and the seconds the graph ran.  An error of graphexec's own
    (a label out of range, say) is returned as a ``_Raised``, not raised: Dask would retry it."""
    program, lock = _program(blob, digest)
    with lock:
        for var in program.variables:
            value = params.get(var.var_name)
            if value is None:
                raise WorkerError(f"{_where()}: the step sent no value for variable "
                                  f"{var.var_name!r} of graph {program.graph.name}")
            var.assign(value)
        t0 = time.perf_counter()
        try:
            outs = _run(program, shard, level)
        except ClusterError:
            raise
        except GraphexecError as e:
            return _Raised(type(e).__module__, type(e).__qualname__, str(e), _where())
        return outs, time.perf_counter() - t0


def _combine(kinds: Sequence[str], values: Sequence[list[Any]],
             weights: Sequence[float]) -> list[Any]:
    """Per result, the shards' values combined in shard order: weighted and added
    (``"weighted"``: gradients, scalar floats), concatenated (``"rows"``), or shard 0's
    (``"const"``: values the step returned as they were, None gradients)."""
    out: list[Any] = []
    for kind, per_shard in zip(kinds, zip(*values, strict=True), strict=True):
        if kind == "rows":
            out.append(np.concatenate([np.asarray(v) for v in per_shard]))
        elif kind == "const" or per_shard[0] is None:
            out.append(per_shard[0])
        else:
            acc = np.asarray(per_shard[0]) * weights[0]
            for v, w in zip(per_shard[1:], weights[1:], strict=True):
                acc = acc + np.asarray(v) * w
            out.append(np.asarray(acc))  # NOTE: a 0-d array, not the numpy scalar of 0-d math
    return out


def _tolerance(x: np.ndarray) -> float:
    """The relative difference from the full batch's values that float rounding explains."""
    return max(1e-3, 50 * float(np.finfo(x.dtype).eps)) if x.dtype.kind in "fc" else 1e-3


def _wide(x: Any) -> np.ndarray:
    """``x`` in float64 (complex128 if complex), to compare and measure."""
    return np.asarray(x, np.complex128 if np.iscomplexobj(x) else np.float64)


def _norm(x: Any) -> float:
    return float(np.linalg.norm(_wide(x)))


@dataclass
class _Packed:
    """A traced gradient step, as its workers get it."""

    program: Program
    blob: bytes
    digest: str
    specs: list[TensorSpec]
    variables: list[Variable]  # what the graph reads, sent by var_name every step
    trainable: list[Variable]  # what the optimizer updates, in the gradients' order
    kinds: list[str]  # how each flat result combines (see _combine): the step's, then grads
    n_out: int  # how many of the flat results the step returns (the rest: the gradients)
    paths: list[str]  # where each of those is in what the step returns ('' for a lone value)
    future: Any = None  # the graph file, scattered to the workers


class DataParallel:
    """Data-parallel training on a Dask cluster: each ``step(*batch)`` splits the batch into
    ``shards`` (default: one per worker), sends the current parameters to every worker as one
    broadcast, runs the same compiled gradient graph on every shard, averages the gradients
    weighted by shard size on the client and applies ``optimizer``'s update there, once.  The
    new weights reach the workers with the next step's broadcast.

    ``step`` is the user's training step, ``step(*batch)``: a function (or ``gx.function``)
    that computes a loss under a ``gx.GradientTape`` and calls ``optimizer.apply(grads,
    variables)`` once, as it would run in one process; ``from_model`` writes it for a model
    and a loss.  It is traced once, on the first batch, with ``optimizer.apply`` recording the
    gradients instead of applying them; the graph must assign no Variable itself (BatchNorm's
    moving statistics would not be synchronized) and run only pure ops (no random numbers:
    a shard run again must give the same gradients).

    The combined gradient is the full batch's, up to float rounding, for exactly these
    losses: with ``reduction="mean"`` (the shards' gradients weighted by rows / batch), a
    mean over the batch's examples (the losses' default), plus terms that do not depend on
    the batch (an L2 penalty); with ``reduction="sum"`` (the shards' gradients added), a sum
    over the examples and nothing else (a batch-independent term would count once per
    shard).  Any other loss (``sqrt`` of a mean, a mean divided by a batch statistic) gives
    another gradient: with ``check`` (the default) the first step runs the gradient graph on
    the whole batch on the client too and raises an InvalidArgumentError, before any update,
    where the two differ by more than rounding.

    ``step`` returns what the user's step returns, combined over the shards: a float of shape
    ``()`` is combined as the gradients are (a mean over the shard becomes the batch's mean;
    with ``reduction="sum"``, a sum the batch's sum), a tensor with one row per example is
    concatenated in order, and a value that does not depend on the batch (a Python value, a
    Variable's) comes back as it is; the trace refuses anything else.  The tensors come back as
    numpy arrays (a float of shape ``()`` as a 0-d array).  With ``check``, the first step also
    compares each combined float and each concatenated tensor with the full batch's and raises
    an InvalidArgumentError naming it where they differ by more than rounding (a maximum, the
    ``sqrt`` of a mean, a sum with ``reduction="mean"``, rows centered on the batch's mean).

    A worker lost during a step is Dask's to handle: its shard runs again elsewhere (the
    gradient graph is deterministic, so the result is the same).  A step that still fails (a
    shard failed ``retries + 1`` times, ``timeout`` seconds passed, the cluster is gone)
    raises a ClusterError, and no weight has changed: the update happens only once every
    shard's gradients are in.  An error of graphexec's own in a shard's graph (an
    ExecutionError for a label out of range, say) is the batch's or the step's: it is not
    retried, and the step raises it as its own class, naming the worker and the shard, with no
    weight changed.  ``shards`` defaults to the workers there are when the trainer is made (a
    cluster still starting is given 10 s for a first one to join).  Each step's
    ``StepStats`` is in ``history`` (``last_stats``).

    >>> import numpy as np, graphexec as gx
    >>> from distributed import Client
    >>> model = gx.layers.Dense(1, seed=0)
    >>> opt = gx.optimizers.SGD(0.1)
    >>> x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    >>> y = x @ np.array([[1.0], [-2.0], [0.5]], "float32")
    >>> with Client(processes=False, n_workers=2, threads_per_worker=1,
    ...             dashboard_address=None) as client:
    ...     trainer = gx.dask.DataParallel.from_model(client, model,
    ...                                               gx.losses.mean_squared_error, opt)
    ...     losses = [float(trainer.step(x, y)) for _ in range(20)]
    ...     print(losses[-1] < losses[0] / 10, trainer.last_stats.workers)
    True 2
    """

    def __init__(self, client: distributed.Client, step: Callable[..., Any],
                 optimizer: Optimizer, *, shards: int | None = None, retries: int = 2,
                 reduction: str = "mean", optimize: int | None = None,
                 check: bool = True) -> None:
        require("distributed")
        if not isinstance(optimizer, Optimizer):
            raise InvalidArgumentError(f"DataParallel: optimizer is a "
                                       f"{type(optimizer).__name__}, not a gx optimizer")
        if not callable(step):
            raise InvalidArgumentError(f"DataParallel: step {step!r} is not a function")
        if reduction not in ("mean", "sum"):
            raise InvalidArgumentError(f"DataParallel: reduction {reduction!r} is not 'mean' "
                                       "or 'sum'")
        self.client = client
        self.optimizer = optimizer
        #: how many times a shard's task is retried after it raised (workers lost are
        #: rescheduled by Dask regardless)
        self.retries = retries
        self.reduction = reduction
        #: whether the first step compares the combined gradient with the full batch's
        self.check = check
        self._fn = step.python_function if isinstance(step, Function) else step
        self._level = (optimize if optimize is not None or not isinstance(step, Function)
                       else step.optimize_level)
        workers = _workers(client, "DataParallel", wait=_JOIN_WAIT)
        self.shards = len(workers) if shards is None else int(shards)
        if self.shards < 1:
            raise InvalidArgumentError(f"DataParallel: shards must be at least 1, got {shards}")
        #: the steps done
        self.steps = 0
        #: the ``StepStats`` of every step done, in order
        self.history: list[StepStats] = []
        self._packed: _Packed | None = None

    @classmethod
    def from_model(cls, client: distributed.Client, model: Layer,
                   loss: Callable[..., Any], optimizer: Optimizer,
                   **options: Any) -> DataParallel:
        """The trainer of ``step(x, y)``: ``loss(y, model(x, training=True))`` (a
        ``gx.losses`` function, say) minimized over ``model.trainable_variables``.  With
        ``reduction="sum"`` the loss is called as ``loss(y, pred, reduction="sum")``, so
        that it sums what the trainer adds."""
        reduction = options.get("reduction", "mean")
        kwargs = {} if reduction == "mean" else {"reduction": reduction}
        if kwargs:
            try:
                params = inspect.signature(loss).parameters.values()
            except (TypeError, ValueError):  # NOTE: a builtin: the call will say
                params = None
            if params is not None and not any(p.name == "reduction" or p.kind is p.VAR_KEYWORD
                                              for p in params):
                raise InvalidArgumentError(
                    f"DataParallel.from_model: reduction={reduction!r} is passed to the loss, "
                    f"and {getattr(loss, '__name__', loss)!r} takes no reduction argument: "
                    "give a loss that does, or write the step (DataParallel(client, step, ...))")

        def step(x: Any, y: Any) -> Any:
            with GradientTape() as tape:
                value = loss(y, model(x, training=True), **kwargs)
            variables = model.trainable_variables
            optimizer.apply(tape.gradient(value, variables), variables)
            return value

        return cls(client, step, optimizer, **options)

    @property
    def last_stats(self) -> StepStats | None:
        """The last step's ``StepStats`` (None before the first)."""
        return self.history[-1] if self.history else None

    def __repr__(self) -> str:
        return (f"<DataParallel {getattr(self._fn, '__name__', 'step')}: {self.shards} shards, "
                f"{self.steps} steps>")

    def _trace(self, batch: Sequence[np.ndarray]) -> _Packed:
        specs = [TensorSpec((None, *a.shape[1:]), a.dtype) for a in batch]
        seen: list[tuple[list[Any], list[Variable]]] = []
        returned: list[tree.TreeDef] = []
        opt, fn = self.optimizer, self._fn

        def record(grads: Sequence[Any], variables: Sequence[Variable]) -> None:
            seen.append((list(grads), list(variables)))

        def gradients_of(*args: Any) -> Any:
            own = vars(opt).get("apply", record)  # NOTE: an instance's own apply, put back
            opt.apply = record  # type: ignore[method-assign]
            try:
                out = fn(*args)
            finally:
                if own is record:
                    vars(opt).pop("apply", None)
                else:
                    opt.apply = own  # type: ignore[method-assign]
            if len(seen) != 1:
                raise InvalidArgumentError(f"DataParallel: the step called apply of the "
                                           f"optimizer it was given {len(seen)} times; it must "
                                           "call it once")
            returned.append(tree.flatten(out)[1])
            return out, seen[0][0]

        traced = Function(gradients_of, input_signature=specs, optimize=self._level,
                          name=getattr(fn, "__name__", "step"))
        program = io.as_program(traced)
        nodes = [d for _, d in program.graph.nx.nodes(data=True)]
        assigned = sorted({d["attrs"]["var"].var_name for d in nodes if d["op"] is assign_p})
        if assigned:
            raise InvalidArgumentError(
                f"DataParallel: the step assigns variable(s) {', '.join(assigned)} besides the "
                "optimizer's update; data-parallel steps synchronize only gradients")
        for d in nodes:
            if not d["op"].pure and d["op"] not in (read_variable_p, assign_p):
                raise InvalidArgumentError(
                    f"DataParallel: the step runs {d['op'].name} at {d['loc']}, which is not a "
                    "pure op (random numbers, say): shards would not add up to the full "
                    "batch's gradient, nor give the same one when Dask runs a lost shard "
                    "again; draw such values on the client and pass them in with the batch")
        variables = program.variables
        names = [v.var_name for v in variables]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InvalidArgumentError(f"DataParallel: several variables are named "
                                       f"{', '.join(twice)}: give them distinct names")
        n_out = returned[0].num_leaves
        kinds = self._kinds(program, returned[0])
        blob, digest = _pack(program)
        return _Packed(program, blob, digest, specs, variables, seen[0][1], kinds, n_out,
                       returned[0].paths())

    def _kinds(self, program: Program, out_tree: tree.TreeDef) -> list[str]:
        """How each flat result of the gradient graph combines (see ``_combine``); an
        InvalidArgumentError names a returned value that cannot be combined."""
        n_out, paths = out_tree.num_leaves, out_tree.paths()
        rs, feeds = program.results, set(program.inputs.values())
        spec = {k: program.graph.spec(program.outputs[r]) for k, r in enumerate(rs)
                if isinstance(r, int)}
        fixed = {k for k in spec if k < n_out and not feeds & needed_nodes(
            program.graph, [program.outputs[cast(int, rs[k])][0]])}
        arrays = [k for k in spec if k < n_out and spec[k].shape and k not in fixed]
        follows = dict(zip(arrays, _follow_batch(
            program, [program.outputs[cast(int, rs[k])] for k in arrays]), strict=True))
        kinds = []
        for k in range(len(rs)):
            if k not in spec or k in fixed:  # NOTE: the same on every shard: shard 0's
                kinds.append("const")
            elif k >= n_out or (not spec[k].shape and spec[k].dtype.kind == "f"):
                kinds.append("weighted")
            elif k in follows and follows[k][0]:
                kinds.append("rows")
            else:
                at = f" at {paths[k]}" if paths[k] else ""
                why = f" ({follows[k][1]})" if k in follows else ""
                how = "averaged, weighted by their rows" if self.reduction == "mean" else "added"
                raise InvalidArgumentError(
                    f"DataParallel: the step returns {spec[k]!r}{at}, which cannot be "
                    f"combined over the shards{why}: a step may return floats of shape "
                    f"() (the shards' values {how}), tensors with one row per example of the "
                    "batch (concatenated in order), and values that do not depend on the batch "
                    "(returned as they are)")
        return kinds

    def step(self, *batch: Any, timeout: float | None = None) -> Any:
        """One training step on ``batch`` (arrays with the same number of rows, at least
        ``shards``): returns what the user's step returns, combined over the shards."""
        distributed = require("distributed")
        arrays = [np.asarray(b.numpy() if isinstance(b, Tensor) else b) for b in batch]
        rows = {a.shape[0] if a.ndim else -1 for a in arrays}
        if len(rows) != 1 or min(rows) < self.shards:
            shapes = ", ".join(fmt_shape(a.shape) for a in arrays)
            raise InvalidArgumentError(f"DataParallel: the batch's arrays ({shapes}) must have "
                                       f"the same number of rows, at least {self.shards} (the "
                                       "shards)")
        n = arrays[0].shape[0]
        if self._packed is None:
            self._packed = self._trace(arrays)
        packed = self._packed
        for spec, a in zip(packed.specs, arrays, strict=True):
            if not spec.is_compatible_with(a):
                raise InvalidArgumentError(f"DataParallel: the batch holds "
                                           f"{Spec(a.shape, a.dtype)!r} where the step was "
                                           f"traced for {spec}")
        bounds = np.cumsum([0] + [n // self.shards + (i < n % self.shards)
                                  for i in range(self.shards)])
        shards = [[a[lo:hi] for a in arrays] for lo, hi in itertools.pairwise(bounds)]
        t0 = time.perf_counter()
        futures: list[Any] = []
        try:  # NOTE: a lost cluster or a closed client fails here as anywhere: a ClusterError
            workers = _workers(self.client, "DataParallel")
            sent = 0
            if packed.future is None or packed.future.status != "finished":  # first, or lost
                [packed.future] = self.client.scatter([packed.blob], broadcast=True, hash=False)
                sent += len(packed.blob) * len(workers)
            params = {v.var_name: v.numpy() for v in packed.variables}
            [params_future] = self.client.scatter([params], broadcast=True, hash=False)
            sent += sum(a.nbytes for a in params.values()) * len(workers)
            sent += sum(a.nbytes for a in arrays)
            tag = uuid.uuid4().hex[:8]
            futures = [self.client.submit(_shard_task, packed.future, packed.digest,
                                          params_future, self._level, *shard,
                                          key=f"graphexec-shard-{tag}-{i}",
                                          workers=[workers[i % len(workers)]],
                                          allow_other_workers=True, retries=self.retries,
                                          pure=False)
                       for i, shard in enumerate(shards)]
            with self.client.as_current():
                distributed.wait(futures, timeout=timeout)
            got = self.client.gather(futures)
        except Exception as e:
            with contextlib.suppress(Exception):  # NOTE: the cluster may be gone already
                self.client.cancel(futures)
            raise self._failed(e, timeout) from e
        for i, result in enumerate(got):
            if isinstance(result, _Raised):
                raise result.error(self.steps + 1, i)
        t1 = time.perf_counter()
        sizes = np.diff(bounds)
        weights = [int(s) / n if self.reduction == "mean" else 1.0 for s in sizes]
        done = cast(list[tuple[list[Any], float]], got)
        values = [outs for outs, _ in done]
        flat = _combine(packed.kinds, values, weights)
        if self.check and not self.steps:
            self._check_exact(packed, arrays, values, flat, weights)
        out, grads = packed.program.treedef.unflatten(flat)
        self.optimizer.apply(grads, packed.trainable)
        t2 = time.perf_counter()
        self.steps += 1
        self.history.append(StepStats(
            self.steps, len(workers), len(shards), sent,
            sum(np.asarray(v).nbytes for outs in values
                for v, kind in zip(outs, packed.kinds, strict=True)
                if kind != "const" and v is not None),
            t2 - t0, max(dt for _, dt in done), t2 - t1))
        return out

    def _check_exact(self, packed: _Packed, arrays: Sequence[np.ndarray],
                     values: Sequence[list[Any]], flat: list[Any],
                     weights: Sequence[float]) -> None:
        """InvalidArgumentError where the combined gradient of a variable, or a combined value
        the step returns, is not the full batch's (run here, on the client) up to float
        rounding."""
        full = _run(packed.program, arrays, self._level)
        for k in range(packed.n_out, len(flat)):
            if packed.kinds[k] != "weighted" or flat[k] is None:
                continue
            got = np.asarray(flat[k])
            scale = sum(w * _norm(v[k]) for v, w in zip(values, weights, strict=True))
            diff = _norm(got - np.asarray(full[k]))
            if diff > _tolerance(got) * scale:
                rel = diff / scale if scale else float("inf")
                var = packed.trainable[k - packed.n_out].var_name
                raise InvalidArgumentError(
                    f"DataParallel: on the first step the shards' combined gradient of {var} "
                    f"differs from the full batch's by {rel:.1e} of its size, more "
                    f"than float rounding: with reduction={self.reduction!r} the shards "
                    "combine exactly only "
                    + ("a loss that is a mean over the examples (plus terms that do not "
                       "depend on the batch)" if self.reduction == "mean" else
                       "a loss that is a sum over the examples, with no other term")
                    + "; the weights are unchanged (check=False skips this check)")
        for k in range(packed.n_out):
            if packed.kinds[k] not in ("weighted", "rows"):
                continue
            got, want = np.asarray(flat[k]), np.asarray(full[k])
            if packed.kinds[k] == "weighted":
                scale = sum(w * _norm(v[k]) for v, w in zip(values, weights, strict=True))
            else:
                scale = max(_norm(got), _norm(want))
            same = got.shape == want.shape
            if same and not _norm(_wide(got) - _wide(want)) > _tolerance(got) * scale:
                continue  # NOTE: NaN on both sides passes, as for the gradients
            what = (f"the result {packed.paths[k]} of the step" if packed.paths[k]
                    else "the value the step returns")
            if packed.kinds[k] == "weighted":
                how = ("the shards' values averaged, weighted by their rows"
                       if self.reduction == "mean" else "the shards' values added")
                raise InvalidArgumentError(
                    f"DataParallel: on the first step {what} combined over the shards is "
                    f"{got.item():.7g}, and {want.item():.7g} for the full batch: a float of "
                    f"shape () comes back as {how}, the full batch's value only for "
                    + ("a mean over the examples, plus terms that do not depend on the batch"
                       if self.reduction == "mean" else
                       "a sum over the examples, with no other term")
                    + " (not for a maximum, nor the sqrt of a mean): return the per-example "
                    "values instead and reduce them after the step; the weights are unchanged "
                    "(check=False skips this check)")
            at = (np.unravel_index(int(np.nanargmax(np.abs(_wide(got) - _wide(want)))),
                                   got.shape) if same else None)
            where = (f": at {tuple(int(i) for i in at)} it is {got[at].item():.7g}, and "
                     f"{want[at].item():.7g} for the full batch" if at is not None else
                     f" (shape {got.shape}, and {want.shape} for the full batch)")
            raise InvalidArgumentError(
                f"DataParallel: on the first step {what}, one row per example concatenated "
                f"over the shards, differs from the full batch's{where}: each row must depend "
                "on its own example only (not on a statistic of the batch, such as "
                "x - mean(x, axis=0)); the weights are unchanged (check=False skips this "
                "check)")

    def _failed(self, e: Exception, timeout: float | None) -> GraphexecError:
        """The error a step raises for ``e``: a ClusterError (WorkerError) that advises a
        retry, or graphexec's own error of another class as that class (running again would
        fail again)."""
        what = f"DataParallel: step {self.steps + 1} failed"
        if isinstance(e, TimeoutError):
            why = f"its shards were not done within {timeout} s"
        else:
            why = f"{type(e).__name__}: {str(e).removeprefix('DataParallel: ')}"
        msg = f"{what}: {why}; the weights are unchanged (no gradient was applied)"
        if isinstance(e, GraphexecError) and not isinstance(e, ClusterError):
            try:
                return type(e)(msg)
            except Exception:  # NOTE: a class made otherwise
                return GraphexecError(msg)
        msg += ": call step again to retry it"
        return WorkerError(msg) if isinstance(e, WorkerError) else ClusterError(msg)
