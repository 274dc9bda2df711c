"""Helpers every graph pass shares: rewiring uses, removing nodes, canonical node keys."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from ..ir import GraphIR, Ref, control_key
from ..ops.state import constant_p
from ..registry import REGISTRY, OpDef

__all__ = ["replace_uses", "rewrite_node", "remove_node", "keep_names", "node_key", "canonical",
           "Ref", "Action", "record"]


class Action(str):
    """One line of a pass's log (the text ``OptimizationReport`` prints) that also says which
    node it is about (``node``), why in a few words (``why``, e.g. ``"cse: same as exp"``) and
    the nodes the result came from (``origin``): the pass history reads these.

    >>> from graphexec.passes.core import Action
    >>> a = Action("merged exp_1 into exp (exp)", "exp_1", "cse: same as exp", ("exp",))
    >>> a == "merged exp_1 into exp (exp)", a.why, a.origin
    (True, 'cse: same as exp', ('exp',))
    """

    node: str
    why: str
    origin: tuple[str, ...]

    def __new__(cls, text: str, node: str, why: str, origin: Iterable[str] = ()) -> Action:
        self = super().__new__(cls, text)
        self.node, self.why, self.origin = node, why, tuple(origin)
        return self

    def __reduce__(self) -> Any:
        return (Action, (str(self), self.node, self.why, self.origin))


def record(actions: list[str] | None, text: str, node: str, why: str,
           origin: Iterable[str] = ()) -> None:
    """Append an ``Action`` to a pass's ``actions`` log (when there is one)."""
    if actions is not None:
        actions.append(Action(text, node, why, origin))

# -- helpers -------------------------------------------------------------------------------------
def replace_uses(graph: GraphIR, old: Ref, new: Ref) -> int:
    """Make every input slot fed by tensor ``old`` read tensor ``new`` instead, updating both
    the consumers' ``inputs`` tuples and their keyed edges; returns how many slots changed.

    >>> import graphexec as gx
    >>> from graphexec.passes import replace_uses
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((2,), "float64", name="x")
    ...     y = gx.exp(x) * gx.exp(x) + gx.sin(x)
    >>> replace_uses(g, ("exp_1", 0), ("exp", 0))
    1
    >>> g.nx.nodes["multiply"]["inputs"], g.validate()
    ((('exp', 0), ('exp', 0)), None)
    """
    g = graph.nx
    src, idx = old
    uses = [(dst, int(slot)) for dst, keyed in g.succ[src].items() for slot, d in keyed.items()
            if d["out_index"] == idx and isinstance(slot, int)]
    for dst, slot in uses:
        graph.touch(dst)
        inputs = list(g.nodes[dst]["inputs"])
        inputs[slot] = new
        g.nodes[dst]["inputs"] = tuple(inputs)
        g.remove_edge(src, dst, key=slot)
        g.add_edge(new[0], dst, key=slot, out_index=new[1])
    captures = getattr(graph, "_captures", None)
    if captures:  # eager tensors captured as ``old`` now resolve to ``new``
        for k, (t, ref) in list(captures.items()):
            if ref == old:
                captures[k] = (t, new)
    return len(uses)


def rewrite_node(graph: GraphIR, node: str, op: OpDef | str, inputs: Iterable[Ref],
                 attrs: dict[str, Any], specs: tuple[Any, ...] | None = None) -> None:
    """Turn ``node`` into ``op(inputs, **attrs)`` in place: it keeps its name, its ``loc``, its
    control inputs and its consumers (so fetches and ``keep`` by name still find it); its input
    edges are redone.
    ``specs`` (default: unchanged) must give the same number of outputs.

    >>> import graphexec as gx
    >>> from graphexec.passes.core import rewrite_node
    >>> with gx.graph() as g:
    ...     x = gx.placeholder((2,), "float64", name="x")
    ...     y = gx.exp(x)
    >>> rewrite_node(g, "exp", "negative", [("x", 0)], {})
    >>> g.invalidate(); g.validate()
    >>> g.run(y, {x: [1.0, 2.0]})
    array([-1., -2.])
    """
    g = graph.nx
    graph.touch(node)
    d = g.nodes[node]
    for u, _, k in list(g.in_edges(node, keys=True)):
        if isinstance(k, int):  # data edges; control edges stay
            g.remove_edge(u, node, key=k)
    inputs = tuple(inputs)
    d.update(op=REGISTRY[op] if isinstance(op, str) else op, attrs=attrs, inputs=inputs)
    if specs is not None:
        if len(specs) != len(d["specs"]):
            raise ValueError(f"rewrite_node: {node!r} has {len(d['specs'])} outputs, "
                             f"got {len(specs)} specs")
        d["specs"] = tuple(specs)
    for slot, (src, idx) in enumerate(inputs):
        g.add_edge(src, node, key=slot, out_index=idx)


def remove_node(graph: GraphIR, node: str) -> None:
    """Remove ``node``; nodes that had to run after it (control inputs) now run after what it
    waited for (its inputs and control inputs), so no ordering is lost."""
    g = graph.nx
    graph.touch(node, removing=True)  # NOTE: its data is not changed before it goes
    waiters = [dst for dst, keys in g.succ[node].items()
               if any(not isinstance(k, int) for k in keys)]
    if waiters:
        d = g.nodes[node]
        before = [src for src, _ in d["inputs"]] + list(d["control"])
        for w in dict.fromkeys(waiters):
            ctrl = [c for c in g.nodes[w]["control"] if c != node]
            set_control(graph, w, tuple(dict.fromkeys(ctrl + [b for b in before if b != w])))
    g.remove_node(node)
    captures = getattr(graph, "_captures", None)
    if captures:
        for k in [k for k, (_, ref) in captures.items() if ref[0] == node]:
            del captures[k]


def keep_names(keep: Iterable[Any]) -> set[str]:
    names = set()
    for k in keep:
        if isinstance(k, str):
            names.add(k.partition(":")[0])
        elif isinstance(getattr(k, "_node", None), str):  # a graph tensor
            names.add(k._node)
        else:
            raise InvalidArgumentError(f"optimize: keep takes node names or graph tensors, "
                                       f"got {k!r}")
    return names


def set_control(graph: GraphIR, node: str, control: tuple[str, ...]) -> None:
    """Give ``node`` the control inputs ``control`` (its control edges redone)."""
    g = graph.nx
    graph.touch(node)
    for u, _, k in list(g.in_edges(node, keys=True)):
        if not isinstance(k, int):
            g.remove_edge(u, node, key=k)
    g.nodes[node]["control"] = control
    for k, src in enumerate(control):
        g.add_edge(src, node, key=control_key(k), out_index=None)


def canonical(v: Any) -> Any:
    """A hashable key for a value, equal only for values that act the same: ``0.0`` and
    ``-0.0`` differ, NaN payloads differ, ``1`` and ``1.0`` and ``True`` differ; TypeError for
    a value with no such key.  CSE keys attributes by it; ``gx.function`` keys static arguments.

    >>> from graphexec.passes.core import canonical
    >>> canonical(0.0) == canonical(-0.0), canonical(float("nan")) == canonical(float("nan"))
    (False, True)
    """
    return _canon(v)


def _canon(v: Any) -> Any:
    """A hashable key for an attribute value, equal only for values that act the same."""
    if getattr(type(v), "structural_eq", False):  # e.g. a FusedProgram: compares by structure
        return (type(v), v)
    if isinstance(v, OpDef):
        return (OpDef, v)
    if v is None or isinstance(v, str | bool | int | np.integer | np.bool_):
        return (type(v), v)
    if isinstance(v, float | np.floating):
        # repr tells 0.0 from -0.0; the bytes tell NaN payloads apart
        return (type(v), repr(v), np.asarray(v).tobytes())
    if isinstance(v, complex | np.complexfloating):
        return (type(v), repr(v), np.asarray(v).tobytes())
    if isinstance(v, np.dtype):
        return (np.dtype, v.str)
    if isinstance(v, type):
        return (type, v.__module__, v.__qualname__)
    if isinstance(v, tuple | list):
        return (type(v), *(_canon(x) for x in v))
    if isinstance(v, np.ndarray):
        return (np.ndarray, v.dtype.str, v.shape, v.tobytes())
    raise TypeError(type(v))


def node_key(d: dict[str, Any]) -> Any:
    """What CSE compares nodes by: the op, the inputs, the attributes (canonically: ``0.0`` and
    ``-0.0`` apart, NaN payloads apart), the specs and the control inputs; a constant by dtype,
    shape and bytes.  TypeError for an attribute value with no canonical key.

    >>> import graphexec as gx
    >>> from graphexec.passes.core import node_key
    >>> with gx.graph() as g:
    ...     a = gx.constant(0.0) + 1.0
    >>> node_key(g.nx.nodes["add"])[0]
    <op add (elementwise)>
    """
    op = d["op"]
    if op is constant_p:
        value = np.asarray(d["attrs"]["value"])
        return ("constant", value.dtype.str, value.shape, value.tobytes(), tuple(d["control"]))
    attrs = tuple(sorted((k, _canon(v)) for k, v in d["attrs"].items()))
    return (op, tuple(d["inputs"]), attrs, tuple(d["specs"]), tuple(d["control"]))


