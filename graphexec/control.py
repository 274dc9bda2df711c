"""Control flow that works in both modes: ``gx.cond``.

Eagerly, ``gx.cond(pred, true_fn, false_fn, *operands)`` is Python's ``if``: it calls the
branch ``pred`` picks, and a tape records what that branch ran.  In a graph (``gx.graph()``,
``gx.function``) it is one ``cond`` node holding both branches traced as subgraphs
(``Branch``); the tensors of the enclosing graph a branch uses become inputs of the node, and
only the taken branch runs.  Its gradient is another ``cond`` node whose branches are the
gradients of the branches, so gradients agree in both modes.

>>> import numpy as np, graphexec as gx
>>> def f(x):
...     return gx.cond(gx.sum(x) > 0, lambda v: v * 2.0, lambda v: -v, x)
>>> f(gx.constant([1.0, 2.0])).numpy(), gx.function(f)(np.array([-1.0, -2.0])).numpy()
(array([2., 4.], dtype=float32), array([1., 2.]))
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import tree
from .autodiff import GradientTape, gradients
from .context import current_graph
from .device import Device
from .errors import DTypeError, GraphError, InvalidArgumentError, ShapeError, user_location
from .graph import SubGraph, graph
from .ir import Ref
from .ops.creation import constant, zeros_like
from .ops.state import assign_p, constant_p, placeholder_p, read_variable_p
from .registry import REGISTRY, Spec, register
from .tensor import Tensor, apply, as_tensor

__all__ = ["cond", "Branch", "cond_p"]

_branch_ids = itertools.count()


class Branch:
    """A function traced as a subgraph: ``graph`` (a ``SubGraph``), its parameters
    ``params`` (placeholder names: the operands', then the captured tensors'), ``feed`` (for
    each parameter, the position of its value among the inputs of the node running it),
    ``outputs`` and their structure ``treedef``.  Equal only to itself."""

    def __init__(self, name: str, graph: SubGraph, params: list[str], feed: list[int],
                 outputs: list[Ref], treedef: tree.TreeDef) -> None:
        self.name, self.graph, self.params, self.feed = name, graph, params, feed
        self.outputs, self.treedef = outputs, treedef
        self._gradients: dict[Any, Branch] = {}  # by the inputs they differentiate, specs

    @property
    def specs(self) -> list[Spec]:
        """The specs of the outputs, as traced."""
        return [self.graph.spec(r) for r in self.outputs]

    def infer(self, values: Sequence[Spec]) -> list[Spec]:
        """The specs of the outputs for inputs of specs ``values`` (the node's): each op's
        infer rule again, so a dim the trace left unknown is known where the inputs know it."""
        nxg = self.graph.nx
        env: dict[Ref, Spec] = {}
        for p, i in zip(self.params, self.feed, strict=True):
            want, got = self.graph.spec((p, 0)), values[i]
            if got.dtype != want.dtype or len(got.shape) != len(want.shape) or any(
                    w is not None and g is not None and w != g
                    for w, g in zip(want.shape, got.shape, strict=True)):
                raise DTypeError(f"input {i} is {got!r}; branch {self.name}'s parameter {p} "
                                 f"takes {want!r}")
            env[(p, 0)] = got
        for n in self.graph.topological_order():
            d = nxg.nodes[n]
            op = d["op"]
            if op is placeholder_p:
                continue
            if op.kind == "source":
                specs = d["specs"]
            else:
                out = op.infer(*[env[r] for r in d["inputs"]], **d["attrs"])
                specs = out if op.n_outputs != 1 else (out,)
            for i, sp in enumerate(specs):
                env[(n, i)] = sp
        return [env[r] for r in self.outputs]

    def run(self, xp: Any, values: Sequence[Any], level: int | None) -> list[Any]:
        """The outputs for the node's input ``values``, computed by the subgraph's plan on
        ``xp``'s device at optimization ``level`` (None: as built)."""
        feeds = {p: values[i] for p, i in zip(self.params, self.feed, strict=True)}
        device = None if xp is np else Device("cuda", xp.cuda.Device().id)
        return list(self.graph.run(list(self.outputs), feeds, optimize=level or 0,
                                   device=device))

    def inline(self, values: Sequence[Tensor]) -> list[Tensor]:
        """The branch's ops applied again, to the node's input ``values``, where the caller
        is (eagerly, or into the graph being built): its outputs."""
        env: dict[Ref, Tensor] = {(p, 0): values[i]
                                  for p, i in zip(self.params, self.feed, strict=True)}
        nxg = self.graph.nx
        for n in self.graph.topological_order():
            d = nxg.nodes[n]
            op = d["op"]
            if op is placeholder_p:
                continue
            if op is constant_p:
                out: Any = constant(d["attrs"]["value"])
            else:
                out = apply(op, *[env[r] for r in d["inputs"]], **d["attrs"])
            for i, t in enumerate(out if op.n_outputs != 1 else (out,)):
                env[(n, i)] = t
        return [env[r] for r in self.outputs]

    def __len__(self) -> int:
        return len(self.graph)

    def __repr__(self) -> str:
        return f"<branch {self.name}: {len(self.graph)} nodes>"


def _trace(fn: Callable[..., Any], operands: list[Tensor], treedef: tree.TreeDef,
           outer: Any, what: str, reads: dict[int, Tensor] | None = None
           ) -> tuple[SubGraph, list[str], list[Ref], tree.TreeDef]:
    """``fn`` traced into a new subgraph of ``outer`` with one placeholder per operand
    (``reads``: the Variable reads it shares with its sibling branches)."""
    sub = SubGraph(name=f"{outer.name}/{what}{next(_branch_ids)}", outer=outer, reads=reads)
    with graph(sub):
        phs = [sub.placeholder(x.shape, x.dtype, name=f"arg{i}")
               for i, x in enumerate(operands)]
        out = fn(*treedef.unflatten(phs))
        flat, out_tree = tree.flatten(out)
        refs = []
        for k, o in enumerate(flat):
            if not isinstance(o, Tensor | np.ndarray | np.generic | float | int | bool):
                raise InvalidArgumentError(
                    f"{what}: the function returned {type(o).__name__} at {out_tree.paths()[k]}"
                    f"; it must return tensors (or lists, tuples and dicts of them) — at "
                    f"{user_location()}")
            refs.append(sub._ref(as_tensor(o)))
    for _, d in sub.nx.nodes(data=True):
        if d["op"] is assign_p or (not d["op"].pure and d["op"] is not read_variable_p):
            raise GraphError(f"{what}: {d['op'].name} at {d['loc']} changes state, which a "
                             "graph cannot do inside a branch or loop yet: return the new "
                             "value and assign it outside")
    return sub, [p._node for p in phs], refs, out_tree


def _merged(what: str, a: Spec, b: Spec, where: str) -> Spec:
    """The spec of an output both branches give: dims that differ are unknown."""
    if a.dtype != b.dtype or len(a.shape) != len(b.shape):
        cls = DTypeError if a.dtype != b.dtype else ShapeError
        raise cls(f"{what}: {where}: the true branch gives {a!r}, the false branch {b!r}; "
                  "both must give the same dtype and rank")
    return Spec(tuple(x if x == y else None for x, y in zip(a.shape, b.shape, strict=True)),
                a.dtype)


def _check_pred(pred: Spec) -> None:
    if pred.dtype != np.bool_ or len(pred.shape) != 0:
        raise DTypeError(f"the predicate must be a scalar bool, got {pred!r} (compare, or "
                         "gx.cast(x, 'bool'))")


def _cond_infer(pred: Spec, *values: Spec, branches: tuple[Branch, Branch],
                level: int | None = None) -> tuple[Spec, ...]:
    """Both branches' outputs for these inputs; a dim they disagree on is unknown.

    They must agree in dtype and rank, and the predicate is a scalar bool."""
    _check_pred(pred)
    t, f = branches
    if any(not 0 <= i < len(values) for b in branches for i in b.feed):
        raise InvalidArgumentError(f"{len(values)} inputs for branches that read more")
    paths = t.treedef.paths() if t.treedef.num_leaves else []
    return tuple(_merged("cond", a, b, f"output {path or 0}")
                 for a, b, path in zip(t.infer(values), f.infer(values),
                                       paths or [""] * len(t.outputs), strict=True))


@register("cond", infer=_cond_infer, n_outputs=None, subgraphs=("branches",))
def cond_p(xp, pred, *values, branches, level=None):
    return tuple(branches[0 if bool(pred) else 1].run(xp, values, level))


def _cond_vjp(gouts: Any, outs: Any, pred: Tensor, *values: Tensor,
              branches: tuple[Branch, Branch], level: int | None = None) -> tuple[Any, ...]:
    gouts = gouts if isinstance(gouts, tuple) else (gouts,)
    diff = tuple(i for i, v in enumerate(values) if np.dtype(v.dtype).kind in "fc")
    if not diff:
        return (None,) * (1 + len(values))
    if current_graph() is None:  # a cond node run eagerly (gx.cond itself is Python's if)
        return (None, *_branch_gradients(branches[0 if bool(pred.numpy()) else 1], values,
                                         gouts, diff))
    args = [*values, *gouts]
    key = (diff, tuple((tuple(a.shape), np.dtype(a.dtype).str) for a in args))
    grads = [b._gradients.get(key) or b._gradients.setdefault(key, _gradient_branch(
        b, values, gouts, diff)) for b in branches]
    got = apply(cond_p, pred, *args, branches=tuple(grads))
    out: list[Any] = [None] * len(values)
    for k, i in enumerate(diff):
        out[i] = got[k]
    return (None, *out)


def _branch_gradients(b: Branch, xs: Sequence[Tensor], gs: Sequence[Tensor],
                      diff: tuple[int, ...]) -> list[Any]:
    """The gradients of ``b``'s outputs (weighted by ``gs``) with respect to the inputs
    ``xs`` at ``diff``, where the caller is: eagerly with a tape, in a graph with nodes."""
    full: list[Any] = [None] * len(xs)
    tape = GradientTape()
    if current_graph() is None:
        with tape:
            for i in diff:
                tape.watch(xs[i])
            outs = b.inline(xs)
    else:
        outs = b.inline(xs)
    pairs = [(o, g) for o, g in zip(outs, gs, strict=True) if np.dtype(o.dtype).kind in "fc"]
    targets, seeds = [o for o, _ in pairs], [g for _, g in pairs]
    sources = [xs[i] for i in diff]
    if not pairs:
        got = [zeros_like(x) for x in sources]
    elif current_graph() is None:
        got = tape.gradient(targets, sources, output_gradients=seeds,
                            unconnected_gradients="zero")
    else:
        got = gradients(targets, sources, grad_ys=seeds, unconnected_gradients="zero")
    for i, g in zip(diff, got, strict=True):
        full[i] = g
    return full


def _gradient_branch(b: Branch, values: Sequence[Tensor], gouts: Sequence[Tensor],
                     diff: tuple[int, ...]) -> Branch:
    """The branch computing ``b``'s gradients with respect to its inputs at ``diff``, from the
    node's ``values`` and the output gradients ``gouts``."""
    n = len(values)

    def grad_fn(*args: Tensor) -> list[Tensor]:
        got = _branch_gradients(b, list(args[:n]), list(args[n:]), diff)
        return [got[i] for i in diff]

    g = current_graph()
    operands = [*values, *gouts]
    sub, params, refs, out_tree = _trace(grad_fn, operands, tree.flatten(operands)[1], g,
                                         f"{b.name}_grad")
    feed = list(range(len(operands)))
    captured = sub.captured
    if captured:  # NOTE: a gradient reads only the node's inputs and constants
        raise GraphError(f"gradient of {b.name}: it captured {captured}")
    return Branch(f"{b.name}_grad", sub, params, feed, refs, out_tree)


REGISTRY["cond"].vjp = _cond_vjp
REGISTRY["cond"].vjp_needs = False


def cond(pred: Any, true_fn: Callable[..., Any], false_fn: Callable[..., Any],
         *operands: Any) -> Any:
    """``true_fn(*operands)`` if ``pred`` else ``false_fn(*operands)``, in both modes.

    Eagerly, Python picks the branch.  In a graph both branches are traced (each once) into
    one ``cond`` node, and only the one ``pred`` picks runs; the branches must return the same
    structure of tensors with the same dtypes and ranks (a dim that differs is unknown in the
    result).  Tensors of the enclosing graph a branch uses, and Variables it reads, become
    inputs of the node; a branch cannot assign Variables.  ``pred`` is a scalar bool tensor
    (or a Python bool).  Gradients flow through the taken branch in both modes.

    >>> import graphexec as gx
    >>> x = gx.constant(3.0)
    >>> gx.cond(x > 2.0, lambda: x * x, lambda: x + 1.0).numpy()
    array(9., dtype=float32)
    """
    p = as_tensor(pred)
    g = current_graph()
    if g is None:
        _check_pred_eager(p)
        return true_fn(*operands) if bool(p.numpy()) else false_fn(*operands)
    try:
        _check_pred(Spec(p.shape, np.dtype(p.dtype)))
    except DTypeError as e:
        raise DTypeError(f"cond: {e} — at {user_location()}") from None
    flat, treedef = tree.flatten(list(operands))
    tensors = [as_tensor(x) for x in flat]
    reads: dict[int, Tensor] = {}
    traced = [_trace(fn, tensors, treedef, g, what, reads)
              for fn, what in ((true_fn, "true_branch"), (false_fn, "false_branch"))]
    tt, ft = traced[0][3], traced[1][3]
    if tt != ft:
        raise GraphError(f"cond: the true branch returns {tt!r}, the false branch {ft!r}; "
                         f"both must return the same structure — at {user_location()}")
    captured: list[Tensor] = []
    index: dict[tuple[int, str, int], int] = {}
    branches = []
    for sub, params, refs, out_tree in traced:
        feed = list(range(len(tensors)))
        for c in sub.captured:
            key = (id(c._graph), c._node, c._index)
            if key not in index:
                index[key] = len(tensors) + len(captured)
                captured.append(c)
            feed.append(index[key])
        capture_params = [r[0] for r in (sub._capture_refs[(id(c._graph), c._node, c._index)]
                                         for c in sub.captured)]
        branches.append(Branch(sub.name.rsplit("/", 1)[-1], sub, params + capture_params,
                               feed, refs, out_tree))
    outs = apply(cond_p, p, *tensors, *captured, branches=tuple(branches))
    return tt.unflatten(list(outs))


def _check_pred_eager(p: Tensor) -> None:
    try:
        _check_pred(Spec(p.shape, np.dtype(p.dtype)))
    except DTypeError as e:
        raise DTypeError(f"cond: {e} — at {user_location()}") from None

