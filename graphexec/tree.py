"""Nested structures of tensors (pytrees): the one flatten/unflatten graphexec uses for fetch
structures, ``gx.function`` arguments and results, tape sources and targets.

Lists, tuples (named tuples included) and mappings are containers; everything else is a leaf.
A dict subclass comes back as its own type (a defaultdict with its factory), another mapping as
a dict.
``flatten`` gives the leaves in order and a ``TreeDef`` that rebuilds the same structure from
new leaves; a ``TreeDef`` is hashable, so it can be part of a cache key.

>>> from graphexec import tree
>>> leaves, treedef = tree.flatten({"a": [1, 2], "b": (3,)})
>>> leaves
[1, 2, 3]
>>> treedef.unflatten(["x", "y", "z"])
{'a': ['x', 'y'], 'b': ('z',)}
>>> tree.flatten(5)[0], tree.flatten(5)[1].unflatten([6])
([5], 6)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["TreeDef", "flatten", "flatten_with_paths", "unflatten", "leaves", "map_leaves"]

_LEAF = "leaf"


class TreeDef:
    """The structure of a pytree without its leaves: ``unflatten(leaves)`` rebuilds it."""

    __slots__ = ("children", "kind", "meta", "num_leaves")

    def __init__(self, kind: str, meta: Any = None, children: tuple[TreeDef, ...] = ()) -> None:
        self.kind = kind  # "leaf", "list", "tuple", "namedtuple", "dict"
        self.meta = meta  # the container type (and a dict's keys)
        self.children = children
        self.num_leaves: int = 1 if kind == _LEAF else sum(c.num_leaves for c in children)

    def _key(self) -> tuple[Any, ...]:
        return (self.kind, self.meta, self.children)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TreeDef) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        if self.kind == _LEAF:
            return "*"
        inner = ", ".join(map(repr, self.children))
        if self.kind == "dict":
            inner = ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.meta[1], self.children,
                                                               strict=True))
            return "{" + inner + "}"
        return f"[{inner}]" if self.kind == "list" else f"({inner})"

    def paths(self, prefix: str = "") -> list[str]:
        """The path of each leaf from ``prefix``, as ``flatten_with_paths`` gives them."""
        out: list[str] = []
        _paths(self, prefix, out)
        return out

    def format(self, texts: Any) -> str:
        """The structure written out with ``texts`` (one string per leaf) as its leaves.

        >>> from graphexec import tree
        >>> tree.flatten({"a": [1, 2], "b": (3,)})[1].format(["x", "y", "z"])
        "{'a': [x, y], 'b': (z,)}"
        """
        it = iter(texts)
        return self._format(it)

    def _format(self, it: Iterator[str]) -> str:
        if self.kind == _LEAF:
            return next(it)
        parts = [c._format(it) for c in self.children]
        if self.kind == "dict":
            return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(self.meta[1], parts,
                                                                  strict=True)) + "}"
        if self.kind == "list":
            return "[" + ", ".join(parts) + "]"
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"

    def unflatten(self, leaves: Any) -> Any:
        """The structure with ``leaves`` (an iterable, consumed in order) as its leaves."""
        it = iter(leaves)
        out = self._build(it)
        if next(it, _END) is not _END:
            raise ValueError(f"unflatten: more leaves than the {self.num_leaves} of {self!r}")
        return out

    def _build(self, it: Iterator[Any]) -> Any:
        if self.kind == _LEAF:
            v = next(it, _END)
            if v is _END:
                raise ValueError(f"unflatten: fewer leaves than the {self.num_leaves} needed")
            return v
        items = [c._build(it) for c in self.children]
        if self.kind == "list":
            return items if self.meta is list else self.meta(items)
        if self.kind == "tuple":
            return tuple(items) if self.meta is tuple else self.meta(items)
        if self.kind == "namedtuple":
            return self.meta(*items)
        typ, keys, factory = self.meta
        out = dict(zip(keys, items, strict=True))
        if typ is dict:
            return out
        return typ(factory.obj, out) if factory is not None else typ(out)


_END = object()


class _Same:
    """A defaultdict's factory in a TreeDef: equal only to itself (factories need not hash)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def _flatten(x: Any, out: list[Any], is_leaf: Callable[[Any], bool] | None) -> TreeDef:
    if is_leaf is not None and is_leaf(x):
        out.append(x)
        return _LEAF_DEF
    if isinstance(x, list):
        return TreeDef("list", type(x), tuple(_flatten(v, out, is_leaf) for v in x))
    if isinstance(x, tuple):
        kind = "namedtuple" if hasattr(x, "_fields") else "tuple"
        return TreeDef(kind, type(x), tuple(_flatten(v, out, is_leaf) for v in x))
    if isinstance(x, Mapping):
        keys = tuple(x)
        # NOTE: a defaultdict is rebuilt with its factory, which its constructor takes first
        factory = _Same(x.default_factory) if isinstance(x, defaultdict) else None
        typ = type(x) if isinstance(x, dict) else dict
        return TreeDef("dict", (typ, keys, factory),
                       tuple(_flatten(x[k], out, is_leaf) for k in keys))
    out.append(x)
    return _LEAF_DEF


_LEAF_DEF = TreeDef(_LEAF)
#: the structure of a leaf
LEAF = _LEAF_DEF


def flatten(x: Any, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list[Any], TreeDef]:
    """The leaves of ``x`` in order, and its structure; ``is_leaf(v)`` may stop the descent at
    a container (a ``(node, index)`` pair that names a graph tensor, say)."""
    out: list[Any] = []
    treedef = _flatten(x, out, is_leaf)
    return out, treedef


def flatten_with_paths(x: Any, prefix: str = "",
                       is_leaf: Callable[[Any], bool] | None = None
                       ) -> tuple[list[tuple[str, Any]], TreeDef]:
    """``flatten``, with each leaf's path from ``prefix`` (``x[0]['a']``), for error messages
    and names.

    >>> from graphexec import tree
    >>> tree.flatten_with_paths({"a": [1, 2]}, "x")[0]
    [("x['a'][0]", 1), ("x['a'][1]", 2)]
    """
    flat, treedef = flatten(x, is_leaf)
    return list(zip(treedef.paths(prefix), flat, strict=True)), treedef


def _paths(treedef: TreeDef, path: str, out: list[str]) -> None:
    if treedef.kind == _LEAF:
        out.append(path)
        return
    keys = treedef.meta[1] if treedef.kind == "dict" else range(len(treedef.children))
    for k, child in zip(keys, treedef.children, strict=True):
        _paths(child, f"{path}[{k!r}]", out)


def unflatten(treedef: TreeDef, leaves: Any) -> Any:
    """``treedef.unflatten(leaves)``."""
    return treedef.unflatten(leaves)


def leaves(x: Any) -> list[Any]:
    """The leaves of ``x`` in order.

    >>> from graphexec import tree
    >>> tree.leaves([1, (2, [3])])
    [1, 2, 3]
    """
    return flatten(x)[0]


def map_leaves(fn: Callable[[Any], Any], x: Any) -> Any:
    """``x`` with every leaf ``v`` replaced by ``fn(v)``.

    >>> from graphexec import tree
    >>> tree.map_leaves(lambda v: v * 10, {"a": [1, 2]})
    {'a': [10, 20]}
    """
    flat, treedef = flatten(x)
    return treedef.unflatten(fn(v) for v in flat)
