"""Algebraic simplification: local rewrites that leave every result bit for bit the same.

A rewrite is made only where the simplified graph computes the same bits, dtype and shape
for every input, ``-0.0``, NaN and inf included (a NaN keeps its sign and payload; only a
signalling NaN, which arithmetic would quiet, may pass through unquieted).  A rewrite that
would change a result's broadcast shape or dtype is skipped.

- ``x*1``, ``1*x``, ``x/1`` → ``x``: the constant (all ones, of any shape that does not
  enlarge the result) is exact in IEEE arithmetic.
- ``x+0``, ``0+x`` → ``x``: for floats only when every zero is ``-0.0``, since
  ``-0.0 + 0.0`` is ``+0.0``; ``x-0`` → ``x`` only when no zero is ``-0.0``, since
  ``-0.0 - -0.0`` is ``+0.0``.  An integer zero next to a float ``x`` is ``+0.0``.
- ``x**1`` → ``x`` for integer dtypes only: float ``pow`` is a libm call whose error is not
  pinned down (numpy's float16 power drops a NaN's sign; SIMD and CUDA pows are allowed
  ulps of error), so float ``x**1`` is left alone.
- ``x*0``, ``0*x`` → a zeros constant for integer and bool dtypes, whose products with zero
  are always zero, when the result's shape is fully known (and the zeros are at most
  ``max_bytes``).  For floats ``x*0`` is NaN for NaN or inf ``x`` and ``-0.0`` for negative
  ``x``, so it is never rewritten.
- Complex dtypes get none of the arithmetic rewrites: ``x*(1+0j)`` multiplies the imaginary
  part by zero too, which turns an infinite part into NaN.
- ``-(-x)`` and ``logical_not(logical_not(x))`` → ``x``.
- ``transpose(transpose(x))`` → one transpose with the composed permutation, and an
  identity transpose → ``x``; a reshape whose result has ``x``'s shape → ``x``; ``cast`` to
  ``x``'s own dtype → ``x``.  ``reshape(reshape(x))`` stays: when ``x`` is not contiguous
  (a transposed view, a feed) the inner reshape copies it into C order, one reshape may
  return a strided view instead, and a later sum or matmul rounds differently by layout.
- ``cast(cast(x, d1), d2)`` → ``cast(x, d2)`` only where every conversion is exact: ``d1``
  and ``d2`` (unless it is ``x``'s dtype) hold every value of ``x``'s dtype, as f32 → f64 or
  int32 → float64 do (int64 → float64 does not).  Lossy casts are never merged.
- ``squeeze(expand_dims(x, a), a)`` → ``x``; ``expand_dims(squeeze(x, a), a)`` → ``x`` only
  when ``x``'s squeezed dims are known to be 1 (else the squeeze is a run-time check).
- A tree of ``add`` (and ``add_n``) nodes of one dtype and one fully known shape, whose inner
  nodes have no other consumer, becomes one ``add_n``, which sums its operands left to right:
  ``(a+b)+c`` → ``add_n(a, b, c)``.  Float addition is not associative, so for floats only
  the left operands are flattened (``a+(b+c)`` stays); integer and bool addition (wrapping,
  or logical or) is associative, so any tree is flattened.

Not simplified, on purpose: ``exp(log(x))`` (``log`` of a negative is NaN), ``log(exp(x))``
(``exp`` overflows), ``x - x`` → 0 and ``x / x`` → 1 (NaN and inf).

Rewrites of a node into another op (a composed transpose, ``add_n``, a zeros constant) are
made in place, so the node keeps its name; a node that simplifies to its input ``x`` has its
uses read ``x`` instead and is removed — unless it is named in ``keep``, where it is left as
it is.  Nodes a rewrite leaves without consumers are removed too (not kept ones, nor
placeholders or impure nodes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import numpy as np

from ..ir import GraphIR
from ..ops.array import cast_p, expand_dims_p, reshape_p, squeeze_p, transpose_p
from ..ops.math import (
    add_n_p,
    add_p,
    divide_p,
    logical_not_p,
    multiply_p,
    negative_p,
    pow_p,
    subtract_p,
)
from ..ops.state import constant_p, placeholder_p
from ..registry import OpDef, Spec
from .core import Ref, keep_names, record, remove_node, replace_uses, rewrite_node

__all__ = ["algebraic_simplification"]


class _Alias(NamedTuple):
    """The node computes exactly tensor ``ref``."""

    ref: Ref
    what: str


class _Rewrite(NamedTuple):
    """The node becomes ``op(inputs, **attrs)``, with the same spec."""

    op: OpDef
    inputs: tuple[Ref, ...]
    attrs: dict[str, Any]
    what: str


class _Consts(NamedTuple):
    """What the identity rules ask of a constant's values."""

    ones: bool
    zeros: bool
    all_neg: bool  # every element has its sign bit set (floats only: -0.0)
    any_neg: bool


_NOT_IDENTITY = _Consts(False, False, False, False)


def _consts(value: Any) -> _Consts:
    v = np.asarray(value)
    if v.dtype.kind not in "biuf":
        return _NOT_IDENTITY
    first = v.flat[0] if v.size else None  # a cheap look before scanning the whole array
    ones = first in (None, 1) and bool(np.all(v == 1))
    zeros = first in (None, 0) and bool(np.all(v == 0))
    if zeros and v.dtype.kind == "f":
        sign = np.signbit(v)
        return _Consts(ones, zeros, bool(sign.all()), bool(sign.any()))
    return _Consts(ones, zeros, False, False)


def _exact_cast(src: np.dtype, dst: np.dtype) -> bool:
    """Whether every value of dtype ``src`` converts to ``dst`` exactly (and so back)."""
    if src == dst:
        return True
    if src.kind == "b":
        return dst.kind in "biuf"
    if src.kind in "iu" and dst.kind in "iu":
        return bool(np.can_cast(src, dst, "safe"))
    if src.kind in "iu" and dst.kind == "f":  # NOTE: numpy calls int64 -> float64 safe
        return 8 * src.itemsize - (src.kind == "i") <= np.finfo(dst).nmant + 1
    if src.kind == "f" and dst.kind == "f":
        return bool(np.can_cast(src, dst, "safe"))
    return False


class _Walk:
    """State of one pass: the graph, the kept names, the actions and a cache of constants."""

    def __init__(self, graph: GraphIR, kept: set[str], actions: list[str] | None,
                 max_bytes: int) -> None:
        self.graph = graph
        self.g = graph.nx
        self.kept = kept
        self.actions = actions
        self.max_bytes = max_bytes
        self.changes = 0
        self._consts: dict[str, _Consts] = {}

    def spec(self, ref: Ref) -> Spec:
        return self.g.nodes[ref[0]]["specs"][ref[1]]

    def const(self, ref: Ref) -> _Consts | None:
        """What constant ``ref`` holds, or None when it is not a constant node."""
        d = self.g.nodes[ref[0]]
        if d["op"] is not constant_p:
            return None
        hit = self._consts.get(ref[0])
        if hit is None:
            hit = self._consts[ref[0]] = _consts(d["attrs"]["value"])
        return hit

    def done(self, node: str, what: str, origin: Iterable[str] = ()) -> None:
        self.changes += 1
        record(self.actions, f"{node}: {what}", node, f"simplified: {what}", origin)

    def one_use(self, n: str) -> bool:
        # NOTE: not out_degree, which counts a shared constant's uses one by one
        succ = self.g.succ[n]
        return len(succ) == 1 and len(next(iter(succ.values()))) == 1

    def drop(self, nodes: Iterable[str]) -> None:
        """Remove those of ``nodes`` (and, in turn, of their inputs) left without consumers."""
        work = list(nodes)
        while work:
            n = work.pop()
            if n not in self.g or self.g.succ[n] or n in self.kept:
                continue
            d = self.g.nodes[n]
            if d["op"] is placeholder_p or not d["op"].pure:
                continue
            work.extend(src for src, _ in d["inputs"])
            self._consts.pop(n, None)
            remove_node(self.graph, n)

    def barrier(self, d: dict[str, Any]) -> bool:
        """A node with control inputs, or reading one: no rule removes or absorbs such nodes."""
        return bool(d["control"]) or any(self.g.nodes[src]["control"] for src, _ in d["inputs"])

    def visit(self, n: str) -> None:
        d = self.g.nodes[n]
        rule = _RULES.get(d["op"])
        while rule is not None and not self.barrier(d):  # NOTE: again after each rewrite
            out = rule(self, n, d)
            if out is None:
                break
            if isinstance(out, _Alias):
                if n in self.kept:  # fetched by name: it stays
                    break
                if not replace_uses(self.graph, (n, 0), out.ref):
                    break  # NOTE: only control waiters read it: nothing to redirect
                self.done(n, out.what, (out.ref[0],))
                self.drop([n])
                return
            old = [src for src, _ in d["inputs"]]
            rewrite_node(self.graph, n, out.op, out.inputs, out.attrs)
            self.done(n, out.what)
            self.drop(old)
            rule = _RULES.get(d["op"])
        if d["op"] in _SUMS and not self.barrier(d):
            self.flatten_sum(n)

    # -- add chains -------------------------------------------------------------------------
    def summable(self, n: str) -> bool:
        """An add or add_n whose operands all have its own fully known spec."""
        d = self.g.nodes[n]
        if d["op"] not in _SUMS:
            return False
        spec = d["specs"][0]
        return None not in spec.shape and all(self.spec(r) == spec for r in d["inputs"])

    def absorbable(self, ref: Ref, slot: int, assoc: bool) -> bool:
        """Whether the operand ``ref`` in input ``slot`` of a summable node can be inlined."""
        c = ref[0]
        return ((slot == 0 or assoc) and c not in self.kept and not self.g.nodes[c]["control"]
                and self.one_use(c) and self.summable(c))

    def flatten_sum(self, n: str) -> None:
        if not self.summable(n):
            return
        assoc = self.g.nodes[n]["specs"][0].dtype.kind in "biu"
        if n not in self.kept and self.one_use(n):
            _, user, slot = next(iter(self.g.out_edges(n, keys=True)))
            if self.summable(user) and (slot == 0 or assoc):
                return  # the consumer's flattening takes this node in
        operands: list[Ref] = []
        absorbed: list[str] = []
        stack = list(reversed(list(enumerate(self.g.nodes[n]["inputs"]))))
        while stack:
            slot, ref = stack.pop()
            if self.absorbable(ref, slot, assoc):
                absorbed.append(ref[0])
                stack.extend(reversed(list(enumerate(self.g.nodes[ref[0]]["inputs"]))))
            else:
                operands.append(ref)
        if not absorbed:
            return
        rewrite_node(self.graph, n, add_n_p, operands, {})
        for c in absorbed:
            remove_node(self.graph, c)
        self.done(n, f"add chain -> add_n of {len(operands)}", (n, *absorbed))


_SUMS = (add_p, add_n_p)


# -- rules: (walk, node, node data) -> _Alias | _Rewrite | None ------------------------------
def _add_zero(c: _Consts, dtype: np.dtype) -> bool:
    return c.zeros and (dtype.kind != "f" or c.all_neg)


def _sub_zero(c: _Consts, dtype: np.dtype) -> bool:
    return c.zeros and not c.any_neg


def _one(c: _Consts, dtype: np.dtype) -> bool:
    return c.ones


# op -> (result dtype kinds, {slot of the constant: (its test, the action's text)})
_IDENTITIES: dict[OpDef, tuple[str, dict[int, tuple[Callable[[_Consts, np.dtype], bool], str]]]] = {
    multiply_p: ("biuf", {1: (_one, "x*1"), 0: (_one, "1*x")}),
    add_p: ("biuf", {1: (_add_zero, "x+0"), 0: (_add_zero, "0+x")}),
    subtract_p: ("iuf", {1: (_sub_zero, "x-0")}),
    divide_p: ("f", {1: (_one, "x/1")}),
    pow_p: ("iu", {1: (_one, "x**1")}),
}


def _identity(w: _Walk, n: str, d: dict[str, Any]) -> _Alias | _Rewrite | None:
    spec = d["specs"][0]
    kinds, slots = _IDENTITIES[d["op"]]
    if spec.dtype.kind not in kinds:
        return None
    inputs = d["inputs"]
    for slot, (test, what) in slots.items():
        c = w.const(inputs[slot])
        x = inputs[1 - slot]
        if c is not None and test(c, spec.dtype) and w.spec(x) == spec:
            return _Alias(x, f"{what} -> x")
    if (d["op"] is multiply_p and spec.dtype.kind in "biu" and None not in spec.shape
            and int(np.prod(spec.shape)) * spec.dtype.itemsize <= w.max_bytes):
        for slot in (1, 0):
            c = w.const(inputs[slot])
            if c is not None and c.zeros:
                what = "x*0" if slot else "0*x"
                return _Rewrite(constant_p, (), {"value": np.zeros(spec.shape, spec.dtype)},
                                f"{what} -> zeros")
    return None


def _involution(w: _Walk, n: str, d: dict[str, Any]) -> _Alias | None:
    (src, _), = d["inputs"]
    inner = w.g.nodes[src]
    if inner["op"] is d["op"] and w.spec(inner["inputs"][0]) == d["specs"][0]:
        what = "-(-x) -> x" if d["op"] is negative_p else "not(not x) -> x"
        return _Alias(inner["inputs"][0], what)
    return None


def _transpose(w: _Walk, n: str, d: dict[str, Any]) -> _Alias | _Rewrite | None:
    ref, = d["inputs"]
    perm = tuple(d["attrs"]["perm"])
    inner = w.g.nodes[ref[0]]
    if inner["op"] is transpose_p:
        first = tuple(inner["attrs"]["perm"])
        return _Rewrite(transpose_p, inner["inputs"], {"perm": tuple(first[p] for p in perm)},
                        "transpose(transpose(x)) -> transpose(x)")
    if perm == tuple(range(len(perm))) and w.spec(ref) == d["specs"][0]:
        return _Alias(ref, "identity transpose -> x")
    return None


def _reshape(w: _Walk, n: str, d: dict[str, Any]) -> _Alias | _Rewrite | None:
    ref, = d["inputs"]
    # NOTE: equal specs have at most one unknown dim (a reshape's shape has at most one -1),
    # and the size fixes it, so the reshape is the identity
    if w.spec(ref) == d["specs"][0]:
        return _Alias(ref, "reshape to the same shape -> x")
    return None


def _cast(w: _Walk, n: str, d: dict[str, Any]) -> _Alias | _Rewrite | None:
    ref, = d["inputs"]
    dtype = np.dtype(d["attrs"]["dtype"])
    inner = w.g.nodes[ref[0]]
    if inner["op"] is cast_p:
        x = inner["inputs"][0]
        src = w.spec(x).dtype
        if (_exact_cast(src, np.dtype(inner["attrs"]["dtype"]))
                and (dtype == src or _exact_cast(src, dtype))):
            return _Rewrite(cast_p, inner["inputs"], {"dtype": dtype},
                            "cast(cast(x)) -> cast(x)")
    if w.spec(ref) == d["specs"][0]:
        return _Alias(ref, "cast to the same dtype -> x")
    return None


def _squeeze_expand(w: _Walk, n: str, d: dict[str, Any]) -> _Alias | None:
    ref, = d["inputs"]
    inner = w.g.nodes[ref[0]]
    pair = expand_dims_p if d["op"] is squeeze_p else squeeze_p
    if (inner["op"] is pair
            and tuple(inner["attrs"]["axis"]) == tuple(d["attrs"]["axis"])
            and w.spec(inner["inputs"][0]) == d["specs"][0]):
        return _Alias(inner["inputs"][0], f"{d['op'].name}({pair.name}(x)) -> x")
    return None


_RULES: dict[OpDef, Callable[[_Walk, str, dict[str, Any]], _Alias | _Rewrite | None]] = {
    **dict.fromkeys(_IDENTITIES, _identity),
    negative_p: _involution,
    logical_not_p: _involution,
    transpose_p: _transpose,
    reshape_p: _reshape,
    cast_p: _cast,
    squeeze_p: _squeeze_expand,
    expand_dims_p: _squeeze_expand,
}


# -- the pass ------------------------------------------------------------------------------------
def algebraic_simplification(graph: GraphIR, keep: Iterable[Any] = (),
                             actions: list[str] | None = None,
                             max_bytes: int = 1 << 20) -> bool:
    """Simplify ``graph`` in place with the exact rewrites listed in this module's docstring,
    in one walk in topological order (so ``-(-(-(-x)))`` collapses at once); returns whether
    anything changed.  Nodes named in ``keep`` (names or tensors) are never removed: one that
    would simplify to its input stays.  Zeros constants (integer ``x*0``) larger than
    ``max_bytes`` are not made.

    >>> import graphexec as gx
    >>> from graphexec.passes.simplify import algebraic_simplification
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((2,), "float64", name="x")
    ...     y = gx.exp(-(-x) * 1.0) + x + x
    >>> actions = []
    >>> g.apply_pass(lambda graph: algebraic_simplification(graph, keep=[y], actions=actions))
    True
    >>> actions
    ['negative_1: -(-x) -> x', 'multiply: x*1 -> x', 'add_1: add chain -> add_n of 3']
    >>> print(g)  # doctest: +ELLIPSIS
    graph g... (3 nodes)
      x: f64[2] = placeholder() ...
      exp: f64[2] = exp(x) ...
      add_1: f64[2] = add_n(exp, x, x) ...
    >>> g.run(y, {x: [0.0, 1.0]})
    array([1.        , 4.71828183])
    """
    walk = _Walk(graph, keep_names(keep), actions, max_bytes)
    for n in graph.topological_order():
        if n in walk.g:
            walk.visit(n)
    return walk.changes > 0
