"""Write docs/ops.md, the op reference, from ``graphexec.REGISTRY``: for every primitive its
kind, inputs and outputs, shape rule, gradient, fusion class, memory class and the function
that creates it.

    python scripts/op_reference.py          # write docs/ops.md
    python scripts/op_reference.py --check  # exit 1, showing the diff, if docs/ops.md is stale

The facts come from each ``OpDef``.  The shape rule is the first line of the infer rule's
docstring where it has one, else the line ``SHAPE_RULES`` keeps for that infer rule, else a
sentence about the op's kind.  The creating function is found by reading the source of the
public functions of ``gx``, ``gx.nn``, ``gx.linalg`` and ``gx.random`` (and the methods of their
classes) for the ops they pass to ``apply``; gradient primitives are found in the gradient
rules that apply them.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import inspect
import pathlib
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from typing import Any

import graphexec as gx
from graphexec.registry import KINDS, OpDef

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "ops.md"

#: the namespaces whose public functions count as an op's frontend
NAMESPACES: dict[str, types.ModuleType] = {
    "gx": gx, "gx.nn": gx.nn, "gx.linalg": gx.linalg, "gx.random": gx.random,
}

#: ops no frontend passes to ``apply``: the graph makes their nodes itself
MADE_BY = {
    "constant": "`gx.constant`",
    "placeholder": "`gx.placeholder`",
    "read_variable": "a `gx.Variable` read in graph mode",
    "fused_elementwise": "the fusion pass (`gx.optimize`)",
}


def _elementwise_rule(op: OpDef) -> str:
    dtype = f"numpy's `{op.ufunc}` gives" if op.ufunc else "numpy gives"
    if op.arity == 1:
        return f"Shape of `x`; dtype as {dtype}."
    return f"Inputs broadcast like numpy; dtype as {dtype}."


_REDUCED = "Drops the `axis` dims (size 1 with `keepdims`)"
_CONV_OUT = "`oh = (h - (kh - 1) * dilation - 1) // stride + 1`"
_POOL = ("NHWC `(n, h, w, c)` to `(n, oh, ow, c)`: `ceil(h / stride)` for SAME, "
         "`(h + pads - k) // stride + 1` for VALID or explicit pads")

#: the shape rule of each infer function without a docstring, by ``module.qualname``; ``{name}``
#: is the op's name.  Each was checked by calling the rule on ``gx.Spec`` values.
SHAPE_RULES: dict[str, str | Callable[[OpDef], str]] = {
    "graphexec.registry.elementwise_infer.<locals>.infer": _elementwise_rule,
    # math
    "graphexec.ops.math._add_n_infer":
        "All inputs have one shape and one dtype, the output's (no broadcasting).",
    "graphexec.ops.math._reduction_infer.<locals>.infer":
        _REDUCED + "; dtype as `np.{name}` gives.",
    "graphexec.ops.math._arg_infer":
        "Drops dim `axis` (all dims for `axis=None`; size 1 with `keepdims`); int64.",
    "graphexec.ops.math._logsumexp_infer":
        _REDUCED + "; floats keep their dtype, ints and bools give float64.",
    "graphexec.ops.math._prod_others_infer":
        "Shape of `x` (the tangents have it too); dtype `np.result_type` of the inputs.",
    # grad
    "graphexec.ops.grad._like_infer": "Shape of `like`, dtype of `g`.",
    "graphexec.ops.grad.<lambda>": "Shape and dtype of `x`.",
    # state and creation
    "graphexec.ops.state._no_inputs":
        "No inputs: the spec is given when the node is made, never inferred.",
    "graphexec.ops.state._assign_infer":
        "The variable's shape and dtype, which `value` must have.",
    "graphexec.ops.creation._fill_infer": "The given `shape` and `dtype`.",
    "graphexec.ops.creation._random_infer": "The given `shape` and `dtype`.",
    "graphexec.ops.creation._full_like_infer":
        "Shape of `x` (read for its shape only); `dtype`, or `x`'s.",
    "graphexec.ops.creation._eye_infer": "`(num_rows, num_columns)` in `dtype`.",
    "graphexec.ops.creation._range_infer":
        "1-D with `max(0, ceil((limit - start) / delta))` elements, in `dtype`.",
    # array
    "graphexec.ops.array._cast_infer": "Shape of `x`; the given `dtype`.",
    "graphexec.ops.array._where_infer":
        "`c` (bool), `x` and `y` broadcast like numpy; dtype `np.result_type(x, y)`.",
    "graphexec.ops.array._reshape_infer":
        "The given `shape`, one `-1` taking the rest; the element count must not change.",
    "graphexec.ops.array._reshape_like_infer":
        "Shape of `like`, dtype of `g`; the element counts must match.",
    "graphexec.ops.array._transpose_infer": "The dims of `x` permuted by `perm`.",
    "graphexec.ops.array._expand_dims_infer":
        "`x` with a size-1 dim at each position `axis` of the result.",
    "graphexec.ops.array._squeeze_infer": "`x` without its size-1 dims `axis`.",
    "graphexec.ops.array._broadcast_to_infer":
        "The given `shape`, to which `x` must broadcast.",
    "graphexec.ops.array._tile_infer":
        "Each dim times its multiple, ranks aligned on the right (missing ones count as 1).",
    "graphexec.ops.array._tile_grad_infer":
        "Shape of `like`, dtype of `g`, which must have the tiled shape.",
    "graphexec.ops.array._stack_infer":
        "Inputs of one shape, a new dim of size n at `axis`; dtype `np.result_type`.",
    "graphexec.ops.array._unstack_infer":
        "`num` outputs, each `x` without dim `axis` (which must have size `num`).",
    "graphexec.ops.array._concat_infer":
        "Inputs of one rank, equal but in dim `axis`, whose sizes add up; dtype "
        "`np.result_type`.",
    "graphexec.ops.array._split_infer":
        "One output per piece: dim `axis` of `x` cut into `splits` equal parts or the given "
        "sizes.",
    "graphexec.ops.array._split_like_infer":
        "One output per `like`: dim `axis` of `g` cut into their sizes.",
    "graphexec.ops.array._gather_infer":
        "`params.shape[:axis] + indices.shape + params.shape[axis + 1:]`; dtype of `params`.",
    "graphexec.ops.array._gather_grad_infer":
        "Shape of `like` (the params), dtype of `g`, which must have the gathered shape.",
    "graphexec.ops.array._getitem_infer":
        "numpy basic indexing: an int drops its dim, a slice shortens it, `None` adds a size-1 "
        "dim.",
    "graphexec.ops.array._getitem_grad_infer":
        "Shape of `like`, dtype of `g`, which must have the indexed shape.",
    # linalg
    "graphexec.ops.linalg._matmul_infer":
        "`(..., n, k) @ (..., k, m)` to `(..., n, m)`, batch dims broadcast; a 1-D operand "
        "loses its dim, as in `np.matmul`.",
    "graphexec.ops.linalg._inv_infer":
        "`(..., n, n)` to `(..., n, n)`; ints give float64, as `np.linalg`.",
    "graphexec.ops.linalg._det_infer":
        "`(..., n, n)` to `(...)`; ints give float64, as `np.linalg`.",
    "graphexec.ops.linalg._solve_infer":
        "`a` `(..., n, n)`, `b` `(n,)` or `(..., n, k)`: `b`'s shape, batch dims broadcast.",
    "graphexec.ops.linalg._eig_infer":
        "`(..., n, n)` to eigenvalues `(..., n)` and eigenvectors `(..., n, n)`, complex.",
    "graphexec.ops.linalg._eigh_infer":
        "`(..., n, n)` to real eigenvalues `(..., n)` and eigenvectors `(..., n, n)`.",
    "graphexec.ops.linalg._svd_infer":
        "`(..., m, n)` to `s` `(..., k)`, `k = min(m, n)`, then `u` `(..., m, k)`, `v` "
        "`(..., n, k)` (`m, m` and `n, n` with `full_matrices`) unless `compute_uv=False`.",
    "graphexec.ops.linalg._norm_infer":
        "Drops the `axis` dims (all for `axis=None`; size 1 with `keepdims`); real dtype, ints "
        "give float64.",
    # pad
    "graphexec.ops.pad._pad_infer": "Each dim grows by its `(before, after)` pair.",
    "graphexec.ops.pad._pad_grad_infer":
        "Each dim shrinks by its `(before, after)` pair (the input shape of `pad`).",
    # nn
    "graphexec.ops.nn._relu_infer": "Shape and dtype of `x` (real dtypes only).",
    "graphexec.ops.nn._float_infer":
        "Shape of `x`; dtype as numpy's `exp` gives (floats keep theirs).",
    "graphexec.ops.nn._softmax_infer":
        "Shape of `x`; dtype as numpy's `exp` gives (floats keep theirs).",
    "graphexec.ops.nn._conv2d_infer":
        "NHWC `(n, h, w, c)` with HWIO filters `(kh, kw, c, o)` to `(n, oh, ow, o)`, VALID "
        "windows (`gx.nn.conv2d` pads first): " + _CONV_OUT + ".",
    "graphexec.ops.nn._conv_input_grad_infer":
        "Shape of `like` (conv2d's input); `g` must have conv2d's output shape.",
    "graphexec.ops.nn._conv_filter_grad_infer":
        "Shape of `like` (conv2d's filters); `g` must have conv2d's output shape.",
    "graphexec.ops.nn._max_pool_infer": _POOL + ".",
    "graphexec.ops.nn._avg_pool_infer": _POOL + "; ints give float64.",
    "graphexec.ops.nn._max_pool_grad_infer":
        "Shape of `x` (the pooled input); `g` must have the pooled shape.",
    "graphexec.ops.nn._avg_pool_grad_infer":
        "Shape of `like` (the pooled input); `g` must have the pooled shape.",
    "graphexec.ops.nn._max_pool_grad_grad_infer":
        "The pooled shape of `x`; `gg` must have the shape of `x`.",
    "graphexec.ops.nn._nll_infer":
        "`logp` without its class dim `axis`, the shape the int `labels` must have.",
    "graphexec.ops.nn._nll_grad_infer":
        "Shape of `like` (the log-probabilities), dtype of `g`.",
    # made by the optimizer
    "graphexec.ops.fused_nn._dense_infer":
        "As `matmul`; the bias and the activation keep its shape and dtype.",
    "graphexec.ops.fused_nn._conv_infer":
        "As `conv2d`; the bias and the activation keep its shape and dtype.",
    "graphexec.fusion.program._fused_infer":
        "Inputs broadcast like numpy; rank and dtype of the fused program's result.",
}

#: what a rule says where neither a docstring nor ``SHAPE_RULES`` does
KIND_RULES = {
    "elementwise": "Inputs broadcast like numpy.",
    "reduction": "Drops the reduced dims (size 1 with `keepdims`).",
    "opaque": "A rule of its own (see its infer function).",
    "source": "No inputs: the spec is given when the node is made.",
}

#: one paragraph per kind (``graphexec.registry.KINDS``)
INTROS = {
    "elementwise": (
        "Elementwise ops compute each element independently, their inputs broadcasting like "
        "numpy (`(None, 1)` with `(3,)` gives `(None, 3)`, `None` an unknown dim). The "
        "elementwise fusion pass joins chains of the ops marked *loop* into one generated "
        "loop, a `fused_elementwise` node, for the dtypes each op's `Fusion.loop` accepts. "
        "Any pure one-input elementwise op applied without attributes can also be the "
        "activation of a fused epilogue ({epilogues})."
    ),
    "reduction": (
        "Reductions shrink axes: the `axis` dims (all of them for `axis=None`) leave the "
        "shape, or stay with size 1 under `keepdims=True`. `sum_to_like` sums a gradient back "
        "down to the shape of its `like` operand."
    ),
    "opaque": (
        "Opaque ops are everything else: array manipulation, linear algebra, convolution, "
        "pooling, padding, and the backward primitives that gradient rules apply. The "
        "optimizer moves them as whole nodes; {roots} take their bias add and activation into "
        "an epilogue op ({epilogues})."
    ),
    "source": (
        "Sources have no inputs: their value comes from outside the graph's computation (a "
        "constant, a feed, a variable), or, for `no_op`, nothing at all (an ordering node). "
        "Their spec is set when the node is made."
    ),
}


# ---------------------------------------------------------------------------------------------
# facts of one op

def refuses(op: OpDef) -> bool:
    """Whether the op's gradient rule is one ``refuse_vjp`` made: it raises."""
    return op.vjp is not None and op.vjp.__qualname__.startswith("refuse_vjp.")


def gradient(op: OpDef) -> str:
    if op.vjp is None:
        return "no"
    return "refuses" if refuses(op) else "yes"


def shape_rule(op: OpDef) -> str:
    doc = inspect.getdoc(op.infer)
    if doc:
        return doc.splitlines()[0].strip()
    rule = SHAPE_RULES.get(rule_key(op))
    if rule is None:
        return KIND_RULES.get(op.kind, KIND_RULES["opaque"])
    return rule(op) if callable(rule) else rule.format(name=op.name)


def rule_key(op: OpDef) -> str:
    return f"{op.infer.__module__}.{op.infer.__qualname__}"


def fusion(op: OpDef) -> str:
    parts = []
    if op.fusion is not None:
        parts.append("loop")
    if op.epilogue is not None:
        parts.append(f"epilogue: `{op.epilogue.name}`")
    return ", ".join(parts) or "—"


def memory(op: OpDef) -> str:
    if not op.out_arg:
        return "—"
    return "in place" if op.kind == "elementwise" else "dead buffer"


def arity(op: OpDef) -> str:
    ins = "n" if op.arity is None else str(op.arity)
    outs = "n" if op.n_outputs is None else str(op.n_outputs)
    return f"{ins} → {outs}"


# ---------------------------------------------------------------------------------------------
# who makes each op: the frontends and gradient rules that apply it

def _source_tree(fn: Any) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):  # a lambda's source is its whole statement
        return None


def _passed_ops_directly(fn: Any) -> set[OpDef]:
    """The ops ``fn``'s own code passes as an argument: ``apply(add_p, ...)``,
    ``_binary(add_p, ...)``."""
    tree = _source_tree(fn)
    if tree is None:
        return set()
    return {fn.__globals__[a.id] for node in ast.walk(tree) if isinstance(node, ast.Call)
            for a in node.args
            if isinstance(a, ast.Name) and isinstance(fn.__globals__.get(a.id), OpDef)}


def _passed_ops(fn: Any) -> set[OpDef]:
    """The ops ``fn`` passes, and those its private helpers in the same module pass (as
    ``gx.zeros_like`` applies ``full_like`` through ``_like``)."""
    found = _passed_ops_directly(fn)
    for name in fn.__code__.co_names:
        helper = fn.__globals__.get(name)
        if (inspect.isfunction(helper) and helper.__name__.startswith("_")
                and helper is not fn and helper.__module__ == fn.__module__):
            found |= _passed_ops_directly(helper)
    return found


def _public_functions() -> Iterator[tuple[str, Any]]:
    """``(path, function)`` for the public functions of ``NAMESPACES`` and the public methods
    of their classes."""
    for prefix, module in NAMESPACES.items():
        for name in sorted(dir(module)):
            obj = getattr(module, name)
            if name.startswith("_") or not getattr(obj, "__module__", "").startswith("graphexec"):
                continue
            if inspect.isfunction(obj):
                yield f"{prefix}.{name}", obj
            elif inspect.isclass(obj):
                for attr, meth in sorted(vars(obj).items()):
                    if not attr.startswith("_") and inspect.isfunction(meth):
                        yield f"{prefix}.{name}.{attr}", meth


def frontends() -> dict[str, list[str]]:
    """Op name -> the public functions applying it; where one of them has the op's own name,
    only those (so ``range`` is ``gx.range``, not also ``gx.nn.one_hot``, which uses it)."""
    by_op: dict[str, dict[Any, set[str]]] = {}
    for path, fn in _public_functions():
        for op in _passed_ops(fn):
            by_op.setdefault(op.name, {}).setdefault(fn, set()).add(path)
    out = {}
    for name, fns in by_op.items():
        own = {fn: paths for fn, paths in fns.items() if fn.__name__ == name}
        out[name] = sorted(p for paths in (own or fns).values() for p in paths)
    return out


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def gradient_users() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Op name -> the ops whose gradient rule applies it (a backward primitive's forward ops),
    and op name -> the helpers through which gradient rules apply it (``unbroadcast``)."""
    direct: dict[str, set[str]] = {}
    helpers: dict[str, set[str]] = {}
    for op in gx.REGISTRY.values():
        if op.vjp is None or refuses(op):
            continue
        for name in _code_names(op.vjp.__code__):
            used = op.vjp.__globals__.get(name)
            if isinstance(used, OpDef) and used is not op:
                direct.setdefault(used.name, set()).add(op.name)
            elif inspect.isfunction(used) and used.__module__.startswith("graphexec."):
                for via in _passed_ops_directly(used):
                    helpers.setdefault(via.name, set()).add(f"{used.__module__}.{used.__name__}")
    return ({k: sorted(v) for k, v in direct.items()},
            {k: sorted(v) for k, v in helpers.items()})


def made_by(op: OpDef, fronts: dict[str, list[str]],
            grads: tuple[dict[str, list[str]], dict[str, list[str]]],
            epilogue_of: dict[str, str]) -> str:
    direct, helpers = grads
    if op.name in fronts:
        return ", ".join(f"`{p}`" for p in fronts[op.name])
    if op.name in MADE_BY:
        return MADE_BY[op.name]
    if op.name in epilogue_of:
        return f"the epilogue pass, from `{epilogue_of[op.name]}`"
    if op.name in direct:
        return "gradient of " + ", ".join(f"`{n}`" for n in direct[op.name])
    if op.name in helpers:
        return "gradient rules, through " + ", ".join(f"`{n}`" for n in helpers[op.name])
    return "—"


# ---------------------------------------------------------------------------------------------
# the page

def counts(ops: list[OpDef]) -> tuple[int, int, int]:
    """(ops, differentiable ones, ones that join fused elementwise loops)."""
    diff = sum(op.vjp is not None and not refuses(op) for op in ops)
    return len(ops), diff, sum(op.fusion is not None for op in ops)


def build() -> str:
    """The text of docs/ops.md for the ops registered now (sorted, so deterministic)."""
    ops = sorted(gx.REGISTRY.values(), key=lambda op: op.name)
    fronts, grads = frontends(), gradient_users()
    epilogue_of = {op.epilogue.name: op.name for op in ops if op.epilogue is not None}
    n, n_diff, n_fused = counts(ops)
    n_refuse = sum(refuses(op) for op in ops)
    kinds = [k for k in KINDS if any(op.kind == k for op in ops)]
    kinds += sorted({op.kind for op in ops} - set(kinds))
    roots = ", ".join(f"`{op.name}`" for op in ops if op.epilogue is not None)
    epis = ", ".join(f"`{op.epilogue.name}`" for op in ops if op.epilogue is not None)
    lines = [
        "# Op reference",
        "",
        "<!-- generated by scripts/op_reference.py from graphexec.REGISTRY; do not edit -->",
        "",
        f"**{n} ops, {n_diff} differentiable, {n_fused} fusable** "
        f"({n_refuse} more have a gradient rule that refuses; {len(epilogue_of)} take a fused "
        "epilogue).",
        "",
        "Every primitive op is an `OpDef` in `gx.REGISTRY` (see "
        "[writing a new op](writing-a-new-op.md)); this page lists their facts. Regenerate it "
        "with `python scripts/op_reference.py` after adding or changing an op: "
        "`tests/test_op_reference.py` fails while it is out of date.",
        "",
        "- **Made by**: the public function that applies the op; for backward primitives, the "
        "ops whose gradient rule applies them.",
        "- **In → out**: the number of tensor inputs and of outputs (`n`: any number).",
        "- **Shape rule**: what the infer rule computes for the output spec, at graph build "
        "time (`None` dims stay unknown) and in eager mode's checks.",
        "- **Gradient**: *yes*, a gradient rule (`OpDef.vjp`); *no*, none: the outputs are "
        "constants to the backward pass; *refuses*: differentiating through it raises "
        "`GraphexecError` naming the op.",
        "- **Fusion**: *loop*, it can join a fused elementwise loop (`OpDef.fusion`); "
        "*epilogue*, the fused op that takes its bias add and activation (`OpDef.epilogue`).",
        "- **Memory**: the kernel takes `out=` (`OpDef.out_arg`), so the memory planner "
        "(level 3) can hand it a buffer: *in place*, into an input that dies there or a dead "
        "buffer of the same shape and dtype; *dead buffer*, only the latter.",
        "- *impure* ops (`OpDef.pure` false: state and randomness) are never merged, folded, "
        "fused or removed as dead code by the optimizer.",
        "",
    ]
    for kind in kinds:
        group = [op for op in ops if op.kind == kind]
        intro = INTROS.get(kind, "")
        lines += [
            f"## {kind.capitalize()} ops ({len(group)})",
            "",
            intro.format(roots=roots, epilogues=epis),
            "",
            "| Op | Made by | In → out | Shape rule | Gradient | Fusion | Memory |",
            "|---|---|---|---|---|---|---|",
        ]
        for op in group:
            name = f"`{op.name}`" + ("" if op.pure else " *impure*")
            cells = [name, made_by(op, fronts, grads, epilogue_of), arity(op),
                     shape_rule(op).replace("|", "\\|"), gradient(op), fusion(op), memory(op)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true",
                   help="exit 1, printing the diff, if docs/ops.md is out of date")
    args = p.parse_args()
    text = build()
    fallback = sorted(op.name for op in gx.REGISTRY.values()
                      if not inspect.getdoc(op.infer) and rule_key(op) not in SHAPE_RULES)
    if fallback:
        print(f"note: no shape rule written for {', '.join(fallback)}; its kind's is used "
              "(give the infer function a docstring)", file=sys.stderr)
    if args.check:
        old = OUT.read_text() if OUT.exists() else ""
        if old == text:
            return 0
        sys.stdout.writelines(difflib.unified_diff(
            old.splitlines(keepends=True), text.splitlines(keepends=True),
            str(OUT.relative_to(ROOT)), "generated"))
        print(f"\n{OUT.relative_to(ROOT)} is out of date: run python scripts/op_reference.py")
        return 1
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
