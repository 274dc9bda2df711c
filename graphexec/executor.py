"""Lowering a graph to a flat plan, and the interpreter that walks it.

The plan is a list of steps ``(fn, in_slots, out, frees)``: ``fn`` is the op's kernel with
``xp`` and attrs bound, slots index a flat environment list, and ``frees`` clears slots after
their last use so intermediates die as early as they would in hand-written code.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import networkx as nx

from .backend import get_xp
from .errors import ExecutionError, GraphexecError
from .registry import REGISTRY

__all__ = ["Plan", "lower"]

Ref = tuple[str, int]


class Plan:
    """An executable schedule of one graph for one set of fetches."""

    def __init__(self, env: list[Any], steps: list[tuple], fetch_slots: list[int],
                 feed_slots: dict[str, int], nodes: list[str], locs: list[str]) -> None:
        self.env = env
        self.steps = steps
        self.fetch_slots = fetch_slots
        self.feed_slots = feed_slots
        self.placeholders = list(feed_slots)
        self.nodes = nodes
        self.locs = locs

    def run(self, feeds: dict[str, Any]) -> list[Any]:
        env = self.env.copy()
        for node, value in feeds.items():
            slot = self.feed_slots.get(node)
            if slot is not None:
                env[slot] = value
        step = None
        try:
            for step in self.steps:
                fn, ins, out, frees = step
                if out.__class__ is int:
                    env[out] = fn(*[env[i] for i in ins])
                else:
                    for s, v in zip(out, fn(*[env[i] for i in ins]), strict=True):
                        env[s] = v
                for s in frees:
                    env[s] = None
        except GraphexecError:
            raise
        except Exception as e:
            i = self.steps.index(step)
            raise ExecutionError(f"while running node {self.nodes[i]!r}: {type(e).__name__}: {e}"
                                 f" — created at {self.locs[i]}") from e
        return [env[s] for s in self.fetch_slots]


def lower(graph: Any, fetches: tuple[Ref, ...], backend: str = "numpy") -> Plan:
    """Schedule the nodes ``fetches`` depend on: topological steps, slots, last-use frees."""
    xp = get_xp(backend)
    g = graph.nx
    needed = set()
    stack = [n for n, _ in fetches]
    while stack:
        n = stack.pop()
        if n not in needed:
            needed.add(n)
            stack.extend(src for src, _ in g.nodes[n]["inputs"])
    order = list(nx.topological_sort(g.subgraph(needed)))

    slots: dict[Ref, int] = {}
    env: list[Any] = []
    feed_slots: dict[str, int] = {}
    pinned: set[int] = set()  # slots that live for the whole run: constants, feeds, fetches
    computed = []
    for n in order:
        d = g.nodes[n]
        for i in range(len(d["specs"])):
            slots[(n, i)] = len(env)
            env.append(None)
        if d["op"] == "constant":
            s = slots[(n, 0)]
            env[s] = xp.asarray(d["attrs"]["value"])
            pinned.add(s)
        elif d["op"] == "placeholder":
            feed_slots[n] = slots[(n, 0)]
            pinned.add(slots[(n, 0)])
        else:
            computed.append(n)
    fetch_slots = [slots[r] for r in fetches]
    pinned.update(fetch_slots)

    last_use: dict[int, int] = {}
    for k, n in enumerate(computed):
        for r in g.nodes[n]["inputs"]:
            last_use[slots[r]] = k
    frees_at: list[list[int]] = [[] for _ in computed]
    for s, k in last_use.items():
        if s not in pinned:
            frees_at[k].append(s)
    steps = []
    for k, n in enumerate(computed):
        d = g.nodes[n]
        op = REGISTRY[d["op"]]
        kernel = op.overrides.get(backend, op.kernel)
        fn = partial(kernel, xp, **d["attrs"])
        ins = tuple(slots[r] for r in d["inputs"])
        outs = [slots[(n, i)] for i in range(len(d["specs"]))]
        out: int | tuple[int, ...] = outs[0] if op.n_outputs == 1 else tuple(outs)
        # an output nobody reads is freed at once
        dead = [s for s in outs if s not in last_use and s not in pinned]
        steps.append((fn, ins, out, tuple(frees_at[k] + dead)))
    locs = [g.nodes[n]["loc"] for n in computed]
    return Plan(env, steps, fetch_slots, feed_slots, computed, locs)
