"""Every differentiable op's gradient rule against central differences (float64), through the
eager tape and through graph gradients, on the sample operands of tests/cases/."""

import numpy as np
import pytest

import graphexec as gx
from graphexec.registry import REGISTRY

from .test_registry import CASES

#: differentiable ops that are forward-only on purpose (differentiating them is a clear error)
FORWARD_ONLY = {"eig", "eigh", "svd"}
#: ops only the graph optimizer makes, after gradients have been taken: their rules refuse
OPTIMIZER_ONLY = {"fused_elementwise", "fused_dense", "fused_conv2d"}
#: ops that pass no gradient (``OpDef.vjp is None``, the one way to say so): sources, state,
#: random draws, and results that are integers, bools or piecewise constant
NO_GRADIENT = {
    "constant", "placeholder", "read_variable", "assign", "no_op", "fill", "full_like", "eye",
    "range", "random_normal", "random_uniform", "stop_gradient", "floor_divide", "mod",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_not",
    "logical_and", "logical_or", "sign", "round", "argmax", "argmin", "any", "all",
    "shape", "size", "dropout_mask", "floor", "ceil", "argsort", "bitwise_and", "bitwise_or",
    "bitwise_xor", "bitwise_not",
}


#: gradient primitives whose own rule refuses (cumprod's gradient has no second order yet)
REFUSING = {"cumprod_grad"}


def _float(a):
    a = np.asarray(a)
    return a.astype(np.float64) if a.dtype.kind == "f" else a


def _grad_cases():
    out = []
    for name, op in sorted(REGISTRY.items()):
        if (op.kind == "source" or op.vjp is None or name in OPTIMIZER_ONLY
                or name in FORWARD_ONLY or name in REFUSING):
            continue
        for i, (arrays, attrs) in enumerate(CASES.get(name, [])):
            arrays = [_float(a) for a in arrays]
            if not any(a.dtype == np.float64 and a.size for a in arrays):
                continue
            outs = op.kernel(np, *arrays, **attrs)
            outs = outs if op.n_outputs != 1 else (outs,)
            if not all(np.asarray(o).dtype == np.float64 for o in outs):
                continue
            out.append(pytest.param(name, arrays, attrs, id=f"{name}-{i}"))
    return out


GRAD_CASES = _grad_cases()


def _weights(op, arrays, attrs):
    outs = op.kernel(np, *arrays, **attrs)
    outs = outs if op.n_outputs != 1 else (outs,)
    rng = np.random.default_rng(1)
    return [rng.normal(size=np.shape(o)) for o in outs]


def _objective(op, arrays, attrs, w):
    outs = op.kernel(np, *arrays, **attrs)
    outs = outs if op.n_outputs != 1 else (outs,)
    return sum(float(np.sum(np.asarray(o) * wi)) for o, wi in zip(outs, w, strict=True))


def _numeric(op, arrays, attrs, w, i, eps=1e-6):
    x = arrays[i]
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        args_p = [plus if j == i else a for j, a in enumerate(arrays)]
        args_m = [minus if j == i else a for j, a in enumerate(arrays)]
        diff = _objective(op, args_p, attrs, w) - _objective(op, args_m, attrs, w)
        grad[idx] = diff / (2 * eps)
    return grad


def _loss(op, tensors, attrs, w):
    outs = gx.apply(op, *tensors, **attrs)
    outs = outs if op.n_outputs != 1 else (outs,)
    total = None
    for o, wi in zip(outs, w, strict=True):
        term = gx.sum(o * wi)
        total = term if total is None else total + term
    return total


@pytest.mark.parametrize(("name", "arrays", "attrs"), GRAD_CASES)
def test_gradient_matches_central_differences(name, arrays, attrs):
    op = REGISTRY[name]
    w = _weights(op, arrays, attrs)
    wrt = [i for i, a in enumerate(arrays) if a.dtype == np.float64 and a.size]
    # eager: the tape
    tensors = [gx.constant(a) for a in arrays]
    with gx.GradientTape() as tape:
        tape.watch([tensors[i] for i in wrt])
        loss = _loss(op, tensors, attrs, w)
    eager = tape.gradient(loss, [tensors[i] for i in wrt], unconnected_gradients="zero")
    # graph: gradient nodes in the graph
    with gx.graph() as g:
        phs = [gx.placeholder(a.shape, a.dtype) for a in arrays]
        grads = gx.gradients(_loss(op, phs, attrs, w), [phs[i] for i in wrt],
                             unconnected_gradients="zero")
    g.validate()
    graph = g.run(grads, dict(zip(phs, arrays, strict=True)))
    for k, i in enumerate(wrt):
        numeric = _numeric(op, arrays, attrs, w, i)
        np.testing.assert_allclose(eager[k].numpy(), numeric, rtol=1e-5, atol=1e-6,
                                   err_msg=f"{name}: eager gradient of input {i}")
        np.testing.assert_allclose(graph[k], eager[k].numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=f"{name}: graph gradient of input {i}")


def test_ops_without_a_rule_pass_no_gradient_on_purpose():
    # a new op without a rule would pass no gradient silently: it must be listed here
    passing_none = sorted(n for n, op in REGISTRY.items() if op.vjp is None)
    assert passing_none == sorted(NO_GRADIENT)
    assert all(not REGISTRY[n].differentiable for n in NO_GRADIENT)


def test_every_rule_is_checked_numerically():
    checked = {p.values[0] for p in GRAD_CASES}
    ruled = {n for n, op in REGISTRY.items() if op.vjp is not None}
    unchecked = ruled - checked - OPTIMIZER_ONLY - FORWARD_ONLY - REFUSING - {
        "sum_to_like", "broadcast_like"}
    assert not unchecked, sorted(unchecked)


@pytest.mark.parametrize("name", sorted(FORWARD_ONLY))
def test_forward_only_ops_fail_clearly(name):
    a = np.array([[2.0, 1.0], [1.0, 3.0]])
    x = gx.constant(a)
    fn = {"eig": gx.linalg.eig, "eigh": gx.linalg.eigh, "svd": gx.linalg.svd}[name]
    with gx.GradientTape() as tape:
        tape.watch(x)
        out = fn(x)
        y = gx.sum(out[0])
    with pytest.raises(gx.GraphexecError, match=f"{name}: has no gradient rule"):
        tape.gradient(y, x)


def test_optimizer_made_ops_refuse_gradients_clearly():
    with gx.graph() as g:
        x = gx.placeholder((3, 4), "float64", name="x")
        w = gx.placeholder((4, 2), "float64", name="w")
        y = gx.nn.relu(x @ w + 1.0) * 2.0 + 1.0
    gx.optimize(g, level=2, keep=[y])
    ops = {d["op"].name for _, d in g.nx.nodes(data=True)}
    assert {"fused_dense", "fused_elementwise"} <= ops
    with gx.graph(g), pytest.raises(gx.GraphexecError, match="made by the graph optimizer"):
        gx.gradients(gx.sum(y), [x])
