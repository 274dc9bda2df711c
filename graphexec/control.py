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
from .autodiff import GradientTape, _differentiable, gradients
from .context import current_graph
from .device import Device
from .errors import DTypeError, GraphError, InvalidArgumentError, ShapeError, user_location
from .graph import SubGraph, graph
from .ir import Ref
from .ops.array import cast
from .ops.creation import constant, zeros_like
from .ops.state import assign_p, constant_p, placeholder_p, read_variable_p
from .registry import REGISTRY, Spec, register
from .tensor import SymbolicTensor, Tensor, apply, as_tensor

__all__ = ["cond", "while_loop", "scan", "Branch", "cond_p", "while_p", "scan_p"]

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
        env: dict[Ref, Spec] = {}
        for p, i in zip(self.params, self.feed, strict=True):
            want, got = self.graph.spec((p, 0)), values[i]
            if got.dtype != want.dtype or len(got.shape) != len(want.shape) or any(
                    w is not None and g is not None and w != g
                    for w, g in zip(want.shape, got.shape, strict=True)):
                raise DTypeError(f"input {i} is {got!r}; branch {self.name}'s parameter {p} "
                                 f"takes {want!r}")
            env[(p, 0)] = Spec(tuple(got.shape), got.dtype)  # NOTE: eager inputs are arrays
        return self.graph.infer_again(env, self.outputs)

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


def _trace(fn: Callable[..., Any], operands: Sequence[Any], treedef: tree.TreeDef,
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
                    f"{what}: the function returned {type(o).__name__}"
                    + (f" at {out_tree.paths()[k]}" if out_tree.paths()[k] else "")
                    + "; it must return tensors (or lists, tuples and dicts of them) — at "
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
        raise cls(f"{where}: the true branch gives {a!r}, the false branch {b!r}; both must "
                  "give the same dtype and rank")
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
    diff = tuple(i for i, v in enumerate(values) if _differentiable(v))
    if not diff:
        return (None,) * (1 + len(values))
    if current_graph() is None:  # a cond node run eagerly (gx.cond itself is Python's if)
        return (None, *_branch_gradients(branches[0 if bool(pred.numpy()) else 1], values,
                                         gouts, diff))
    args = [*values, *gouts]
    key = (diff, tuple((tuple(a.shape), np.dtype(a.dtype).str) for a in args))
    grads = []
    for b in branches:
        if key not in b._gradients:
            b._gradients[key] = _gradient_branch(b, values, gouts, diff)
        grads.append(b._gradients[key])
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
    here = current_graph()
    if here is None:
        with tape:
            for i in diff:
                tape.watch(xs[i])
            outs = b.inline(xs)
    else:
        # NOTE: a tensor of an enclosing graph (or an eager one) as this graph's own node
        # first: the gradient engine knows tensors by their node names, which two graphs share
        xs = [x if x._graph is here else SymbolicTensor(here, *here._ref(x), _spec_of(x))
              for x in xs]
        outs = b.inline(xs)
    pairs = [(o, g) for o, g in zip(outs, gs, strict=True) if _differentiable(o)
             and (here is None or o._graph is here)]  # NOTE: a constant output: no path
    targets, seeds = [o for o, _ in pairs], [g for _, g in pairs]
    sources = [xs[i] for i in diff]
    if not pairs:
        got = [zeros_like(x) for x in sources]
    elif here is None:
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
    _check_pred_named(p)
    g = current_graph()
    if g is None:
        return true_fn(*operands) if bool(p.numpy()) else false_fn(*operands)
    flat, treedef = tree.flatten(list(operands))
    tensors = [as_tensor(x) for x in flat]
    reads: dict[int, Tensor] = {}
    captured: list[Tensor] = []
    index: dict[tuple[int, str, int], int] = {}
    branches = tuple(
        _branch_of(lambda *a, fn=fn: fn(*treedef.unflatten(list(a))),
                   [_spec_of(t) for t in tensors], g, what, reads, captured, index,
                   len(tensors))
        for fn, what in ((true_fn, "true_branch"), (false_fn, "false_branch")))
    tt, ft = branches[0].treedef, branches[1].treedef
    if tt != ft:
        raise GraphError(f"cond: the true branch returns {tt!r}, the false branch {ft!r}; "
                         f"both must return the same structure — at {user_location()}")
    outs = apply(cond_p, p, *tensors, *captured, branches=branches)
    return tt.unflatten(list(outs))


def _check_pred_named(p: Tensor, what: str = "cond") -> None:
    try:
        _check_pred(Spec(p.shape, np.dtype(p.dtype)))
    except DTypeError as e:
        raise DTypeError(f"{what}: {e} — at {user_location()}") from None



# -- loops: scan and while_loop --------------------------------------------------------------------
def _spec_of(a: Any) -> Spec:
    return Spec(tuple(a.shape), np.dtype(a.dtype))


def _row(s: Spec) -> Spec:
    """The spec of one slice along the leading axis."""
    return Spec(tuple(s.shape[1:]), s.dtype)


def _stacked(xp: Any, rows: list[Any], spec: Spec) -> Any:
    """``rows`` stacked along a new leading axis (``spec``: a row's, for none at all)."""
    if rows:
        shapes = {tuple(r.shape) for r in rows}
        if len(shapes) > 1:
            raise ShapeError(f"a loop variable changes shape across iterations "
                             f"({' -> '.join(map(str, sorted(shapes)))}): its values cannot "
                             "be stacked (a gradient through the loop needs them)")
        return xp.stack(rows)
    return xp.zeros((0, *(0 if d is None else d for d in spec.shape)), spec.dtype)


def _loop_carry_check(what: str, init: Sequence[Spec], got: Sequence[Spec],
                      invariants: Sequence[Spec]) -> None:
    for k, (a, b, inv) in enumerate(zip(init, got, invariants, strict=True)):
        ok = a.dtype == b.dtype and len(b.shape) == len(inv.shape) and all(
            i is None or i == d for i, d in zip(inv.shape, b.shape, strict=True))
        if not ok:
            raise ShapeError(f"loop variable {k} is {a!r} (invariant {inv!r}), and the body "
                             f"gives {b!r}: it must keep its dtype and shape (declare unknown "
                             "dims with shape_invariants)" if what == "while_loop" else
                             f"carry {k} is {a!r}, and the body gives {b!r}: it must keep its "
                             "dtype and shape")


def _scan_infer(*values: Spec, body: Branch, n_carry: int, n_xs: int, length: int | None,
                reverse: bool = False, history: bool = False,
                level: int | None = None) -> tuple[Spec, ...]:
    """The final carry, the stacked outputs (and with ``history`` the stacked carries).

    The body keeps each carry's dtype and shape; xs share their leading dim."""
    values = tuple(Spec(tuple(v.shape), v.dtype) for v in values)  # NOTE: eager ones: arrays
    carry, xs = list(values[:n_carry]), list(values[n_carry:n_carry + n_xs])
    lead = {s.shape[0] for s in xs if s.shape}
    if any(not s.shape for s in xs):
        raise ShapeError("scan: each of xs needs a leading axis to scan over")
    n = length if length is not None else next(iter(lead)) if len(lead) == 1 else None
    known = {d for d in lead if d is not None}
    if len(known) > 1 or (length is not None and known and known != {length}):
        raise ShapeError(f"scan: xs have leading dims {sorted(known)}"
                         + (f" and length is {length}" if length is not None else ""))
    row_specs = [*carry, *[_row(s) for s in xs], *values[n_carry + n_xs:]]
    outs = body.infer(row_specs)
    _loop_carry_check("scan", carry, outs[:n_carry], carry)
    ys = [Spec((n, *s.shape), s.dtype) for s in outs[n_carry:]]
    hist = [Spec((n, *s.shape), s.dtype) for s in carry] if history else []
    return (*carry, *ys, *hist)


@register("scan", infer=_scan_infer, n_outputs=None, subgraphs=("body",))
def scan_p(xp, *values, body, n_carry, n_xs, length, reverse=False, history=False, level=None):
    carry = list(values[:n_carry])
    xs, cap = values[n_carry:n_carry + n_xs], list(values[n_carry + n_xs:])
    n = length if length is not None else xs[0].shape[0]
    if any(x.shape[0] != n for x in xs):
        raise ShapeError(f"scan: xs have leading dims {[x.shape[0] for x in xs]}"
                         + (f" and length is {length}" if length is not None else ""))
    hist: list[list[Any]] = [[] for _ in carry]
    ys: list[list[Any]] = []
    for i in (range(n - 1, -1, -1) if reverse else range(n)):
        for k, c in enumerate(carry):
            hist[k].append(c)
        outs = body.run(xp, [*carry, *[x[i] for x in xs], *cap], level)
        carry, y = outs[:n_carry], outs[n_carry:]
        ys.append(y)
    if reverse:
        ys.reverse()
        for h in hist:
            h.reverse()
    rows = body.infer([*map(_spec_of, values[:n_carry]), *[_row(_spec_of(x)) for x in xs],
                       *map(_spec_of, cap)])[n_carry:] if not ys else None
    stacked = [_stacked(xp, [y[k] for y in ys], rows[k] if rows else _spec_of(ys[0][k]))
               for k in range(len(body.outputs) - n_carry)]
    kept = [_stacked(xp, h, _spec_of(values[k])) for k, h in enumerate(hist)] if history else []
    return (*carry, *stacked, *kept)


def _while_infer(*values: Spec, cond: Branch, body: Branch, n_vars: int,
                 invariants: tuple[Spec, ...], maximum_iterations: int | None = None,
                 history: bool = False, level: int | None = None) -> tuple[Spec, ...]:
    """The loop variables after the last iteration (and with ``history`` the count of
    iterations and each variable's values before each, stacked).

    The body keeps their dtypes and shapes (or the declared shape invariants)."""
    carry = list(values[:n_vars])
    (pred,) = cond.infer(list(values))
    try:
        _check_pred(pred)
    except DTypeError as e:
        raise DTypeError(f"the condition: {e}") from None
    out = body.infer([*invariants, *values[n_vars:]])
    _loop_carry_check("while_loop", carry, out, invariants)
    if not history:
        return tuple(invariants)
    return (*invariants, Spec((), np.dtype(np.int64)),
            *[Spec((None, *s.shape), s.dtype) for s in invariants])


@register("while", infer=_while_infer, n_outputs=None, subgraphs=("cond", "body"))
def while_p(xp, *values, cond, body, n_vars, invariants, maximum_iterations=None, history=False,
            level=None):
    vars_, cap = list(values[:n_vars]), list(values[n_vars:])
    hist: list[list[Any]] = [[] for _ in vars_]
    count = 0
    while maximum_iterations is None or count < maximum_iterations:
        (go,) = cond.run(xp, [*vars_, *cap], level)
        if not bool(go):
            break
        for k, v in enumerate(vars_):
            hist[k].append(v)
        vars_ = body.run(xp, [*vars_, *cap], level)
        count += 1
    if not history:
        return tuple(vars_)
    return (*vars_, xp.asarray(np.int64(count)),
            *[_stacked(xp, h, s) for h, s in zip(hist, invariants, strict=True)])


def _loop_gradient(body: Branch, n_carry: int, carry_grads: Sequence[Any], hist: list[Tensor],
                   xs: list[Tensor], gys: Sequence[Any], cap: list[Tensor], reverse: bool,
                   level: int | None, ghist: Sequence[Any] = ()
                   ) -> tuple[list[Any], list[Any], list[Any]]:
    """The reverse pass of a loop whose ``body`` maps (carry, x row, captured) to (carry, ys):
    a scan, in the other direction, of the body's gradients at each step's carry (``hist``:
    the carries before each step, stacked).  From the final carry's gradients and the stacked
    ys' (``gys``) it gives the gradients of the initial carry, of the xs and of the captured
    tensors (None where not differentiable).  ``ghist``: the gradients of the kept carries
    themselves (a loop differentiated twice), added to each step's carry gradient."""
    n_x = len(xs)
    n_y = len(body.outputs) - n_carry
    fc = [k for k in range(n_carry) if _differentiable(hist[k])]
    fx = [k for k in range(n_x) if _differentiable(xs[k])]
    fcap = [k for k in range(len(cap)) if _differentiable(cap[k])]
    fy = [k for k in range(n_y) if gys and _differentiable(gys[k])]
    fh = [k for k in fc if ghist and ghist[k] is not None]
    diff = (*fc, *(n_carry + k for k in fx), *(n_carry + n_x + k for k in fcap))

    def step(carry: list[Tensor], row: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        gc, gcap = carry[:len(fc)], carry[len(fc):]
        h, x = row[:n_carry], row[n_carry:n_carry + n_x]
        gy, gh = row[n_carry + n_x:n_carry + n_x + len(fy)], row[n_carry + n_x + len(fy):]
        seeds: list[Any] = [None] * (n_carry + n_y)
        for k, g in zip(fc, gc, strict=True):
            seeds[k] = g
        for k, g in zip(fy, gy, strict=True):
            seeds[n_carry + k] = g
        got = _branch_gradients(body, [*h, *x, *cap], seeds, diff)
        kept = dict(zip(fh, gh, strict=True))
        # NOTE: a gradient keeps its tensor's dtype (a float32 weight of a float64 body)
        new_cap = [acc + _as_dtype(got[n_carry + n_x + k], acc)
                   for acc, k in zip(gcap, fcap, strict=True)]
        new_c = [_as_dtype(got[k] + kept[k] if k in kept else got[k], h[k]) for k in fc]
        return [*new_c, *new_cap], [got[n_carry + k] for k in fx]

    init = [carry_grads[k] for k in fc] + [zeros_like(cap[k]) for k in fcap]
    rows = [*hist, *xs, *[gys[k] for k in fy], *[ghist[k] for k in fh]]
    gcarry, gxs = scan(step, init, rows, reverse=not reverse, _level=level)
    g_init: list[Any] = [None] * n_carry
    g_cap: list[Any] = [None] * len(cap)
    g_xs: list[Any] = [None] * n_x
    for k, g in zip(fc, gcarry[:len(fc)], strict=True):
        g_init[k] = g
    for k, g in zip(fcap, gcarry[len(fc):], strict=True):
        g_cap[k] = g
    for k, g in zip(fx, gxs, strict=True):
        g_xs[k] = g
    return g_init, g_xs, g_cap


def _as_dtype(g: Tensor, like: Tensor) -> Tensor:
    return g if g.dtype == like.dtype else cast(g, like.dtype)


def _scan_vjp(gouts: Any, outs: Any, *values: Tensor, body: Branch, n_carry: int, n_xs: int,
              length: int | None, reverse: bool = False, history: bool = False,
              level: int | None = None) -> tuple[Any, ...]:
    gouts = gouts if isinstance(gouts, tuple) else (gouts,)
    n_y = len(body.outputs) - n_carry
    # NOTE: the forward loop keeps no carries; the gradient runs it again, keeping them
    fwd = apply(scan_p, *values, body=body, n_carry=n_carry, n_xs=n_xs, length=length,
                reverse=reverse, history=True, level=level)
    hist = list(fwd[n_carry + n_y:])
    g_init, g_xs, g_cap = _loop_gradient(
        body, n_carry, gouts[:n_carry], hist, list(values[n_carry:n_carry + n_xs]),
        gouts[n_carry:n_carry + n_y], list(values[n_carry + n_xs:]), reverse, level,
        list(gouts[n_carry + n_y:]) if history else ())
    return (*g_init, *g_xs, *g_cap)


def _while_vjp(gouts: Any, outs: Any, *values: Tensor, cond: Branch, body: Branch, n_vars: int,
               invariants: tuple[Spec, ...], maximum_iterations: int | None = None,
               history: bool = False, level: int | None = None) -> tuple[Any, ...]:
    gouts = gouts if isinstance(gouts, tuple) else (gouts,)
    fwd = apply(while_p, *values, cond=cond, body=body, n_vars=n_vars, invariants=invariants,
                maximum_iterations=maximum_iterations, history=True, level=level)
    hist = list(fwd[n_vars + 1:])
    g_init, _, g_cap = _loop_gradient(body, n_vars, gouts[:n_vars], hist, [], [],
                                      list(values[n_vars:]), False, level,
                                      list(gouts[n_vars + 1:]) if history else ())
    return (*g_init, *g_cap)


REGISTRY["scan"].vjp = _scan_vjp
REGISTRY["while"].vjp = _while_vjp


def _branch_of(fn: Callable[..., Any], specs: Sequence[Spec], g: Any, what: str,
               reads: dict[int, Tensor], captured: list[Tensor],
               index: dict[tuple[int, str, int], int], first: int) -> Branch:
    """``fn`` of one placeholder per spec, traced into a subgraph of ``g`` as a Branch whose
    captured tensors are appended to ``captured`` (node inputs from ``first`` on), once."""
    flat_tree = tree.flatten([0] * len(specs))[1]
    sub, params, refs, out_tree = _trace(fn, list(specs), flat_tree, g, what, reads)
    feed = list(range(len(specs)))
    for c in sub.captured:
        key = (id(c._graph), c._node, c._index)
        if key not in index:
            index[key] = first + len(captured)
            captured.append(c)
        feed.append(index[key])
    capture_params = [sub._capture_refs[(id(c._graph), c._node, c._index)][0]
                      for c in sub.captured]
    return Branch(sub.name.rsplit("/", 1)[-1], sub, params + capture_params, feed, refs,
                  out_tree)


def scan(fn: Callable[[Any, Any], tuple[Any, Any]], init: Any, xs: Any = None,
         length: int | None = None, reverse: bool = False, *, _level: int | None = None
         ) -> tuple[Any, Any]:
    """JAX's ``lax.scan``: ``carry, y = fn(carry, x)`` for each slice ``x`` of ``xs`` along
    its leading axis (in reverse order with ``reverse``), giving the last carry and the
    ``y``s stacked.  ``init`` and ``xs`` are tensors or lists, tuples and dicts of them;
    without ``xs``, ``length`` steps with ``x`` None.

    Eagerly a Python loop; in a graph one ``scan`` node whose body is ``fn`` traced once.  The
    body must keep the carry's structure, dtypes and shapes.  Gradients flow to ``init``,
    ``xs`` and the tensors the body uses, in both modes.

    >>> import graphexec as gx
    >>> total, partial = gx.scan(lambda c, x: (c + x, c * x), gx.constant(0.0),
    ...                          gx.constant([1.0, 2.0, 3.0]))
    >>> total.numpy(), partial.numpy()
    (array(6., dtype=float32), array([0., 2., 9.], dtype=float32))
    """
    init_flat, carry_tree = tree.flatten(init)
    xs_flat, xs_tree = tree.flatten(xs) if xs is not None else ([], None)
    carry_t = [as_tensor(c) for c in init_flat]
    xs_t = [as_tensor(x) for x in xs_flat]
    if xs is None and length is None:
        raise InvalidArgumentError(f"scan: give xs or length — at {user_location()}")
    if any(not x.shape for x in xs_t):
        raise ShapeError(f"scan: each of xs needs a leading axis to scan over — at "
                         f"{user_location()}")
    y_tree: list[tree.TreeDef | None] = []

    def body(*args: Tensor) -> list[Tensor]:
        carry = carry_tree.unflatten(list(args[:len(carry_t)]))
        x = xs_tree.unflatten(list(args[len(carry_t):])) if xs_tree is not None else None
        pair = fn(carry, x)
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise InvalidArgumentError(f"scan: the function must return a pair (carry, y), "
                                       f"got {type(pair).__name__} — at {user_location()}")
        new, y = pair
        new_flat, new_tree = tree.flatten(new)
        if new_tree != carry_tree:
            raise GraphError(f"scan: the carry is {carry_tree!r}, and the body returns "
                             f"{new_tree!r}: it must keep its structure — at {user_location()}")
        y_flat, yt = tree.flatten(y) if y is not None else ([], None)
        y_tree.append(yt)
        return [*new_flat, *y_flat]

    g = current_graph()
    if g is None:
        return _eager_scan(body, carry_t, xs_t, length, reverse, carry_tree, y_tree)
    captured: list[Tensor] = []
    row_specs = [Spec(tuple(x.shape[1:]), np.dtype(x.dtype)) for x in xs_t]
    b = _branch_of(body, [*[_spec_of(c) for c in carry_t], *row_specs], g, "scan_body", {},
                   captured, {}, len(carry_t) + len(xs_t))
    outs = apply(scan_p, *carry_t, *xs_t, *captured, body=b, n_carry=len(carry_t),
                 n_xs=len(xs_t), length=length, reverse=reverse, level=_level)
    outs = list(outs)
    ys = outs[len(carry_t):]
    return (carry_tree.unflatten(outs[:len(carry_t)]),
            None if y_tree[0] is None else y_tree[0].unflatten(ys))


def _eager_scan(body: Callable[..., list[Tensor]], carry: list[Tensor], xs: list[Tensor],
                length: int | None, reverse: bool, carry_tree: tree.TreeDef,
                y_tree: list[Any]) -> tuple[Any, Any]:
    from .ops.array import stack
    from .ops.creation import zeros

    lead: set[int] = {int(x.shape[0] or 0) for x in xs}  # eager shapes are known
    n = next(iter(lead)) if xs else (length or 0)
    if len(lead) > 1 or (length is not None and xs and lead != {length}):
        raise ShapeError(f"scan: xs have leading dims {sorted(lead)}"
                         + (f" and length is {length}" if length is not None else "")
                         + f" — at {user_location()}")
    rows: list[list[Tensor]] = []
    for i in (range(n - 1, -1, -1) if reverse else range(n)):
        out = body(*carry, *[x[i] for x in xs])
        carry, y = out[:len(carry)], out[len(carry):]
        rows.append(y)
    if reverse:
        rows.reverse()
    if not rows:  # no step ran: the body traced once, to know what the ys look like
        with graph(SubGraph(name="scan_shapes")) as sub:
            out = body(*[sub.placeholder(c.shape, c.dtype) for c in carry],
                       *[sub.placeholder(x.shape[1:], x.dtype) for x in xs])
        specs = [_spec_of(as_tensor(o)) for o in out[len(carry):]]
        rows_t = [zeros((0, *(0 if d is None else d for d in sp.shape)), sp.dtype)
                  for sp in specs]
    else:
        rows_t = [stack([r[k] for r in rows]) for k in range(len(rows[0]))]
    yt = y_tree[0]
    return carry_tree.unflatten(carry), None if yt is None else yt.unflatten(rows_t)


def while_loop(cond_fn: Callable[..., Any], body_fn: Callable[..., Any], loop_vars: Any,
               maximum_iterations: int | None = None, shape_invariants: Any = None) -> Any:
    """TF's ``tf.while_loop``: while ``cond_fn(*loop_vars)``, ``loop_vars = body_fn(*loop_vars)``
    (at most ``maximum_iterations`` times); the loop variables at the end.

    ``loop_vars`` is a tuple or list of tensors (or of nested structures of them), and the
    body returns the same structure with the same dtypes and shapes; a dim declared None in
    ``shape_invariants`` (the same structure, of shapes) may change.  Eagerly a Python loop;
    in a graph one ``while`` node with the condition and the body traced once, stopping when
    the condition is false.  Gradients flow to the loop variables and the tensors the body
    uses, in both modes: the gradient runs the loop again, keeping each iteration's values.

    >>> import graphexec as gx
    >>> i, x = gx.while_loop(lambda i, x: x < 100.0, lambda i, x: (i + 1, x * 3.0),
    ...                      (gx.constant(0), gx.constant(1.0)))
    >>> i.numpy(), x.numpy()
    (array(5), array(243., dtype=float32))
    """
    if not isinstance(loop_vars, tuple | list):
        raise InvalidArgumentError(f"while_loop: loop_vars must be a tuple or list, got "
                                   f"{type(loop_vars).__name__} — at {user_location()}")
    if maximum_iterations is not None and (
            isinstance(maximum_iterations, bool) or not isinstance(maximum_iterations, int)
            or maximum_iterations < 0):
        raise InvalidArgumentError(f"while_loop: maximum_iterations must be an int >= 0, got "
                                   f"{maximum_iterations!r} — at {user_location()}")
    flat, vars_tree = tree.flatten(loop_vars)
    tensors = [as_tensor(v) for v in flat]

    def as_vars(out: Any) -> list[Tensor]:
        if len(loop_vars) == 1 and not isinstance(out, tuple | list):
            out = [out] if isinstance(loop_vars, list) else (out,)
        got_flat, got_tree = tree.flatten(out)
        if got_tree != vars_tree:
            raise GraphError(f"while_loop: the loop variables are {vars_tree!r}, and the body "
                             f"returns {got_tree!r}: it must keep their structure — at "
                             f"{user_location()}")
        return [as_tensor(v) for v in got_flat]

    g = current_graph()
    if g is None:
        vars_, count = tensors, 0
        while maximum_iterations is None or count < maximum_iterations:
            go = as_tensor(cond_fn(*vars_tree.unflatten(vars_)))
            _check_pred_named(go, "while_loop: the condition")
            if not bool(go.numpy()):
                break
            vars_ = as_vars(body_fn(*vars_tree.unflatten(vars_)))
            count += 1
        return vars_tree.unflatten(vars_)
    if shape_invariants is None:
        invariants = [_spec_of(t) for t in tensors]
    else:
        shapes = tree.flatten(shape_invariants, is_leaf=lambda v: isinstance(v, tuple | list)
                              and all(d is None or isinstance(d, int) for d in v))[0]
        if len(shapes) != len(tensors):
            raise InvalidArgumentError(f"while_loop: {len(shapes)} shape invariants for "
                                       f"{len(tensors)} loop variables — at {user_location()}")
        invariants = [Spec(tuple(s), np.dtype(t.dtype)) for s, t in zip(shapes, tensors,
                                                                          strict=True)]
    reads: dict[int, Tensor] = {}
    captured: list[Tensor] = []
    index: dict[tuple[int, str, int], int] = {}
    cb = _branch_of(lambda *a: cond_fn(*vars_tree.unflatten(list(a))), invariants, g,
                    "while_cond", reads, captured, index, len(tensors))
    bb = _branch_of(lambda *a: as_vars(body_fn(*vars_tree.unflatten(list(a)))), invariants, g,
                    "while_body", reads, captured, index, len(tensors))
    outs = apply(while_p, *tensors, *captured, cond=cb, body=bb, n_vars=len(tensors),
                 invariants=tuple(invariants), maximum_iterations=maximum_iterations)
    return vars_tree.unflatten(list(outs))
