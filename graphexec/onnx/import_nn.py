"""The larger converters of ``import_ops.CONVERTERS``: attention, recurrent layers, rotary
embeddings, grid sampling, signal ops and quantization, each composed of graphexec's frontend
ops as the rest of the table is.  ``NN_CONVERTERS`` maps their ONNX op types to them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from ..ops import math as m
from ..ops.array import (
    broadcast_to,
    cast,
    concat,
    expand_dims,
    gather,
    getitem,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    where,
)
from ..ops.creation import constant, ones_like, zeros_like
from ..ops.linalg import matmul
from ..ops.nn import relu, sigmoid
from ..ops.ordering import take_along_axis
from ..ops.pad import pad
from ..tensor import Tensor
from .node import Node, onnx_dtype

__all__ = ["NN_CONVERTERS"]

Converter = Callable[..., Any]


def _as(x: Tensor, dtype: Any) -> Tensor:
    return x if x.dtype == np.dtype(dtype) else cast(x, dtype)


def _full(value: float, dtype: Any) -> Tensor:
    return constant(np.asarray(value, dtype))


# ---------------------------------------------------------------------------------------------
# attention

def _heads(n: Node, x: Tensor, heads: int | None) -> Tensor:
    """A (batch, seq, heads * size) input as (batch, heads, seq, size)."""
    if heads is None:
        raise n.error(InvalidArgumentError, "3-D inputs need q_num_heads and kv_num_heads")
    b, s, hidden = n.static_shape(x)
    return transpose(reshape(x, (b, s, heads, hidden // heads)), (0, 2, 1, 3))


def _repeat_heads(n: Node, x: Tensor, reps: int) -> Tensor:
    """Each head of (batch, heads, seq, size) ``x`` repeated ``reps`` times in place."""
    b, h, s, d = n.static_shape(x)
    return reshape(broadcast_to(expand_dims(x, 2), (b, h, reps, s, d)), (b, h * reps, s, d))


def _safe_softmax(x: Tensor) -> Tensor:
    """Softmax over the last axis; a row all -inf gives zeros, not NaN."""
    top = m.max(x, axis=-1, keepdims=True)
    top = where(m.equal(top, -math.inf), zeros_like(top), top)
    e = m.exp(m.subtract(x, top))
    total = m.sum(e, axis=-1, keepdims=True)
    return m.divide(e, where(m.equal(total, 0), ones_like(total), total))


def _attention_allowed(n: Node, sq: int, skv: int, offset: int | Tensor) -> Tensor | None:
    """Where the causal and sliding-window rules let a query attend a key (None: all);
    query ``i`` sits at position ``i + offset`` (per batch when ``offset`` is a tensor)."""
    causal = bool(n.attr("is_causal", 0))
    left, right = n.attr("left_window_size", -1), n.attr("right_window_size", -1)
    if not causal and left < 0 and right < 0:
        return None
    i, j = np.arange(sq).reshape(sq, 1), np.arange(skv).reshape(1, skv)
    if isinstance(offset, int):
        diff: Any = constant(i + offset - j)
    else:  # (batch,) -> (batch, 1, q, kv)
        diff = expand_dims(m.subtract(m.add(reshape(offset, (-1, 1, 1)), i), j), 1)
    rules = ([m.greater_equal(diff, 0)] if causal else []) + (
        [m.less_equal(diff, left)] if left >= 0 else []) + (
        [m.less_equal(m.negative(diff), right)] if right >= 0 else [])
    out = rules[0]
    for r in rules[1:]:
        out = m.logical_and(out, r)
    return out


def _attention_bias(n: Node, mask: Tensor | None, nonpad: Tensor | None, dtype: np.dtype,
                    sq: int, skv: int, past: int | None) -> Tensor | None:
    """The additive bias of the scores: the mask (padded to the keys with masked columns),
    -inf where the causal, window and padding rules disallow a key (None: no bias)."""
    base = None
    if mask is not None:
        short = skv - int(mask.shape[-1])  # type: ignore[arg-type]
        if short > 0:
            fill = False if mask.dtype == np.bool_ else -math.inf
            mask = pad(mask, [(0, 0)] * (mask.ndim - 1) + [(0, short)], "constant", fill)
        base = where(mask, _full(0, dtype), _full(-math.inf, dtype)) \
            if mask.dtype == np.bool_ else mask
    offset: int | Tensor = past if past is not None else 0
    if past is None and nonpad is not None:
        offset = m.subtract(cast(nonpad, "int64"), sq)
    allowed = _attention_allowed(n, sq, skv, offset)
    if nonpad is not None:
        keep = m.less(constant(np.arange(skv)), reshape(cast(nonpad, "int64"), (-1, 1)))
        keep = reshape(keep, (-1, 1, 1, skv))
        allowed = keep if allowed is None else m.logical_and(allowed, keep)
    if allowed is None:
        return base
    return where(allowed, _full(0, dtype) if base is None else base, _full(-math.inf, dtype))


def _attention(n: Node, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None,
               past_k: Tensor | None = None, past_v: Tensor | None = None,
               nonpad: Tensor | None = None) -> list[Tensor]:
    three_d = q.ndim == 3
    if three_d:
        q = _heads(n, q, n.attr("q_num_heads"))
        k = _heads(n, k, n.attr("kv_num_heads"))
        v = _heads(n, v, n.attr("kv_num_heads"))
    dtype = q.dtype
    b, hq, sq, d = n.static_shape(q)
    # NOTE: ONNX scales Q and K each by sqrt(scale), rounded to the inputs' dtype
    root = _full(math.sqrt(n.attr("scale", 1 / math.sqrt(d))), dtype)
    past = None
    if past_k is not None and past_v is not None:
        past = int(past_k.shape[2])  # type: ignore[arg-type]
        k, v = concat([past_k, k], 2), concat([past_v, v], 2)
    present_k, present_v = k, v
    hk, skv = n.static_shape(k)[1:3]
    if hq != hk:  # grouped-query attention: each K/V head serves hq // hk query heads
        k, v = _repeat_heads(n, k, hq // hk), _repeat_heads(n, v, hq // hk)
    scores = matmul(m.multiply(q, root), transpose(m.multiply(k, root), (0, 1, 3, 2)))
    cap = n.attr("softcap", 0.0)
    if cap > 0:
        scores = m.multiply(m.tanh(m.divide(scores, cap)), cap)
    bias = _attention_bias(n, mask, nonpad, dtype, sq, skv, past)
    biased = scores if bias is None else m.add(scores, bias)
    mode = n.attr("qk_matmul_output_mode", 0)
    precision = n.attr("softmax_precision")
    probs = _safe_softmax(biased if precision is None else
                          _as(biased, onnx_dtype(precision, f"{n}: ")))
    if bias is not None:  # a row with no key allowed attends nothing
        blocked = m.equal(m.max(bias, axis=-1, keepdims=True), -math.inf)
        probs = where(blocked, zeros_like(probs), probs)
    qk = {2: biased, 3: probs}.get(mode, scores)
    y = matmul(_as(probs, dtype), v)
    if three_d:
        y = reshape(transpose(y, (0, 2, 1, 3)), (b, sq, -1))
    return [y, present_k, present_v, _as(qk, dtype)]


# ---------------------------------------------------------------------------------------------
# recurrent layers, unrolled over the (static) sequence length

def _affine(x: Tensor, a: float, b: float) -> Tensor:
    return m.add(m.multiply(x, a), b)


#: activation -> (fn(x, alpha, beta), default alpha, default beta)
_ACTIVATIONS: dict[str, tuple[Callable[[Tensor, Any, Any], Tensor], Any, Any]] = {
    "Tanh": (lambda x, a, b: m.tanh(x), None, None),
    "Sigmoid": (lambda x, a, b: sigmoid(x), None, None),
    "Relu": (lambda x, a, b: relu(x), None, None),
    "Affine": (_affine, 1.0, 0.0),
    "LeakyRelu": (lambda x, a, b: where(m.less(x, 0), m.multiply(x, a), x), 0.01, None),
    "ThresholdedRelu": (lambda x, a, b: where(m.greater(x, a), x, zeros_like(x)), 1.0, None),
    "ScaledTanh": (lambda x, a, b: m.multiply(m.tanh(m.multiply(x, b)), a), 1.0, 1.0),
    "HardSigmoid": (lambda x, a, b: m.minimum(m.maximum(_affine(x, a, b), 0.0), 1.0), 0.2, 0.5),
    "Elu": (lambda x, a, b: where(m.less(x, 0), m.multiply(m.expm1(x), a), x), 1.0, None),
    "Softsign": (lambda x, a, b: m.divide(x, m.add(m.abs(x), 1.0)), None, None),
    "Softplus": (lambda x, a, b: m.log1p(m.exp(x)), None, None),
}

_RNN_DEFAULTS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}

Activation = Callable[[Tensor], Tensor]


def _rnn_activations(n: Node, dirs: int) -> list[list[Activation]]:
    """Each direction's activations, with their alphas and betas (consumed in order by the
    activations that take them) and the clip of their inputs."""
    names = n.attr("activations") or _RNN_DEFAULTS[n.op_type] * dirs
    alphas, betas = list(n.attr("activation_alpha", [])), list(n.attr("activation_beta", []))
    clip = n.attr("clip")
    acts: list[Activation] = []
    for name in names:
        key = next((k for k in _ACTIVATIONS if k.lower() == name.lower()), None)
        if key is None:
            raise n.error(InvalidArgumentError, f"activation {name!r} is not supported "
                          f"(graphexec has {', '.join(_ACTIVATIONS)})")
        fn, a, b = _ACTIVATIONS[key]
        a = alphas.pop(0) if a is not None and alphas else a
        b = betas.pop(0) if b is not None and betas else b

        def act(x: Tensor, fn: Any = fn, a: Any = a, b: Any = b) -> Tensor:
            if clip is not None:
                x = m.minimum(m.maximum(x, -clip), clip)
            return fn(x, a, b)
        acts.append(act)
    per = len(names) // dirs
    return [acts[d * per:(d + 1) * per] for d in range(dirs)]


def _rnn_step(acts: list[Activation], xw: Tensor, h: Tensor, c: Tensor | None, r: Tensor,
              rb: Tensor) -> tuple[Tensor, Tensor | None]:
    return acts[0](m.add(m.add(xw, matmul(h, r)), rb)), None


def _gru_step(linear: bool) -> Callable[..., tuple[Tensor, Tensor | None]]:
    def step(acts: list[Activation], xw: Tensor, h: Tensor, c: Tensor | None, r: Tensor,
             rb: Tensor) -> tuple[Tensor, Tensor | None]:
        f, g = acts
        xz, xr, xh = split(xw, 3, -1)
        rz, rr, rh = split(r, 3, -1)
        bz, br, bh = split(rb, 3, -1)
        z = f(m.add(m.add(xz, matmul(h, rz)), bz))
        reset = f(m.add(m.add(xr, matmul(h, rr)), br))
        if linear:
            hidden = g(m.add(xh, m.multiply(reset, m.add(matmul(h, rh), bh))))
        else:
            hidden = g(m.add(m.add(xh, matmul(m.multiply(reset, h), rh)), bh))
        return m.add(m.multiply(m.subtract(1.0, z), hidden), m.multiply(z, h)), None
    return step


def _lstm_step(p: Tensor | None) -> Callable[..., tuple[Tensor, Tensor | None]]:
    peep = None if p is None else split(p, 3, -1)

    def step(acts: list[Activation], xw: Tensor, h: Tensor, c: Tensor | None, r: Tensor,
             rb: Tensor) -> tuple[Tensor, Tensor | None]:
        f, g, hact = acts
        assert c is not None
        gi, go, gf, gc = split(m.add(m.add(xw, matmul(h, r)), rb), 4, -1)
        if peep is not None:  # the peepholes of the input, output and forget gates
            gi, gf = m.add(gi, m.multiply(peep[0], c)), m.add(gf, m.multiply(peep[2], c))
        c_new = m.add(m.multiply(f(gf), c), m.multiply(f(gi), g(gc)))
        if peep is not None:
            go = m.add(go, m.multiply(peep[1], c_new))
        return m.multiply(f(go), hact(c_new)), c_new
    return step


def _recurrent(n: Node, x: Tensor, w: Tensor, r: Tensor, b: Tensor | None = None,
               lens: Tensor | None = None, h0: Tensor | None = None, c0: Tensor | None = None,
               p: Tensor | None = None) -> list[Tensor]:
    if n.attr("input_forget", 0):
        raise n.error(InvalidArgumentError, "LSTM's input_forget is not supported")
    layout = n.attr("layout", 0)
    if layout:
        x = transpose(x, (1, 0, 2))
        h0, c0 = (None if t is None else transpose(t, (1, 0, 2)) for t in (h0, c0))
    steps, batch = n.static_shape(x)[:2]
    dirs = n.static_shape(w)[0]
    hidden = n.static_shape(r)[2]
    step = {"RNN": _rnn_step, "GRU": _gru_step(bool(n.attr("linear_before_reset", 0))),
            "LSTM": _lstm_step(None)}[n.op_type]
    acts = _rnn_activations(n, dirs)
    direction = n.attr("direction", "forward")
    zeros = constant(np.zeros((batch, hidden), x.dtype))
    ys, hs, cs = [], [], []
    for d in range(dirs):
        wd, rd = getitem(w, (d,)), transpose(getitem(r, (d,)), (1, 0))
        wb, rb = (split(getitem(b, (d,)), 2, 0) if b is not None
                  else (zeros_like(getitem(w, (d, slice(None), 0))),) * 2)
        if n.op_type == "LSTM":
            step = _lstm_step(None if p is None else getitem(p, (d,)))
        xw = m.add(matmul(x, transpose(wd, (1, 0))), wb)  # (steps, batch, gates * hidden)
        h = zeros if h0 is None else getitem(h0, (d,))
        c = zeros if c0 is None else getitem(c0, (d,))
        back = direction == "reverse" or d == 1
        out: list[Any] = [None] * steps
        for t in (range(steps - 1, -1, -1) if back else range(steps)):
            # NOTE: a GRU's recurrent bias of the hidden gate is applied inside the reset
            h_new, c_new = step(acts[d], getitem(xw, (t,)), h, c, rd, rb)
            if lens is not None:  # past its length a sequence keeps its state, outputs 0
                valid = reshape(m.less(t, cast(lens, "int64")), (batch, 1))
                h_new = where(valid, h_new, h)
                c_new = None if c_new is None else where(valid, c_new, c)
                out[t] = where(valid, h_new, zeros)
            else:
                out[t] = h_new
            h, c = h_new, c if c_new is None else c_new
        ys.append(stack(out))
        hs.append(h)
        cs.append(c)
    y, y_h, y_c = stack(ys, 1), stack(hs), stack(cs)  # (steps, dirs, batch, hidden), ...
    if layout:
        y, y_h, y_c = transpose(y, (2, 0, 1, 3)), transpose(y_h, (1, 0, 2)), \
            transpose(y_c, (1, 0, 2))
    return [y, y_h, y_c]


# ---------------------------------------------------------------------------------------------
# grid sampling: each output point gathers its neighbours from the flattened image

def _trunc(x: Tensor) -> Tensor:
    return m.multiply(m.sign(x), m.floor(m.abs(x)))


def _reflect(x: Tensor, lo: float, hi: float) -> Tensor:
    """``x`` reflected off ``lo`` and ``hi`` until it lies between them."""
    span = hi - lo
    if span <= 0:
        return m.add(zeros_like(x), lo)
    below, above = m.less(x, lo), m.greater(x, hi)
    dx = where(below, m.subtract(lo, x), m.subtract(x, hi))
    k = m.floor(m.divide(dx, span))
    r = m.subtract(dx, m.multiply(k, span))
    even = m.equal(m.mod(k, 2.0), 0.0)
    low_side, high_side = m.add(r, lo), m.subtract(hi, r)
    return where(below, where(even, low_side, high_side),
                 where(above, where(even, high_side, low_side), x))


def _cubic_coeffs(t: Tensor) -> list[Tensor]:
    a = -0.75

    def near(s: Any) -> Tensor:
        return m.add(m.multiply(m.subtract(m.multiply(s, a + 2), a + 3), m.square(s)), 1.0)

    def far(s: Any) -> Tensor:
        inner = m.add(m.multiply(m.subtract(m.multiply(s, a), 5 * a), s), 8 * a)
        return m.subtract(m.multiply(inner, s), 4 * a)

    return [far(m.add(t, 1.0)), near(t), near(m.subtract(1.0, t)), far(m.subtract(2.0, t))]


def _grid_sample(n: Node, x: Tensor, grid: Tensor) -> Tensor:
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(n.attr("mode", "linear"),
                                                          n.attr("mode", "linear"))
    padding = n.attr("padding_mode", "zeros")
    align = bool(n.attr("align_corners", 0))
    shp, gshp = n.static_shape(x), n.static_shape(grid, "grid")
    batch, chans, dims = shp[0], shp[1], shp[2:]
    k = len(dims)
    points = math.prod(gshp[1:-1])
    g = reshape(grid, (batch, points, k))
    coords, lows, highs = [], [], []
    for i, d in enumerate(dims):  # the grid's last axis lists the coordinates innermost first
        c = squeeze(getitem(g, (slice(None), slice(None), slice(k - 1 - i, k - i))), -1)
        c = m.multiply(m.add(c, 1.0), (d - 1) / 2) if align else \
            m.divide(m.subtract(m.multiply(m.add(c, 1.0), float(d)), 1.0), 2.0)
        if mode == "nearest":
            c = m.round(c)
        lo, hi = (0.0, d - 1.0) if align else (-0.5, d - 0.5)
        if padding == "border":
            c = m.minimum(m.maximum(c, 0.0), d - 1.0)
        elif padding == "reflection":
            c = _reflect(c, lo, hi)
        coords.append(c)
        lows.append(lo)
        highs.append(hi)
    # per dim: the neighbours' integer positions and their weights
    taps: list[list[tuple[Tensor, Tensor | None]]] = []
    for c in coords:
        if mode == "nearest":
            taps.append([(_trunc(c), None)])
            continue
        base = m.floor(c)
        t = m.subtract(c, base)
        if mode == "linear":
            taps.append([(base, m.subtract(1.0, t)), (m.add(base, 1.0), t)])
        else:
            taps.append([(m.add(base, float(o)), w)
                         for o, w in zip((-1, 0, 1, 2), _cubic_coeffs(t), strict=True)])
    flat = reshape(x, (batch, chans, math.prod(dims)))
    strides = [math.prod(dims[i + 1:]) for i in range(k)]
    total: Tensor | None = None
    for combo in itertools.product(*taps):
        index: Tensor | None = None
        inside: Tensor | None = None
        weight: Tensor | None = None
        for i, (pos, w) in enumerate(combo):
            d = dims[i]
            if padding == "reflection":
                pos = _trunc(_reflect(pos, lows[i], highs[i]))
            if padding == "zeros":
                ok = m.logical_and(m.greater_equal(pos, 0.0), m.less(pos, float(d)))
                inside = ok if inside is None else m.logical_and(inside, ok)
            term = m.multiply(cast(m.minimum(m.maximum(pos, 0.0), d - 1.0), "int64"), strides[i])
            index = term if index is None else m.add(index, term)
            weight = w if weight is None or w is None else m.multiply(weight, w)
        assert index is not None
        picked = _gather_points(flat, index, chans)
        if inside is not None:
            picked = where(expand_dims(inside, 1), picked, zeros_like(picked))
        if weight is not None:
            picked = m.multiply(picked, expand_dims(_as(weight, x.dtype), 1))
        total = picked if total is None else m.add(total, picked)
    assert total is not None
    return reshape(total, (batch, chans, *gshp[1:-1]))


def _gather_points(flat: Tensor, index: Tensor, chans: int) -> Tensor:
    """``flat[b, c, index[b, p]]``: (batch, chans, points)."""
    b, p = index.shape
    idx = broadcast_to(expand_dims(index, 1), (b, chans, p))
    return take_along_axis(flat, idx, 2)


# ---------------------------------------------------------------------------------------------
# rotary embeddings, SwiGLU, the key-value cache's TensorScatter

def _rotary_embedding(n: Node, x: Tensor, cos: Tensor, sin: Tensor,
                      pos: Tensor | None = None) -> Tensor:
    shp = n.static_shape(x)
    if x.ndim == 4:  # (batch, heads, seq, size) -> (batch, seq, heads, size)
        x = transpose(x, (0, 2, 1, 3))
    else:
        heads = n.attr("num_heads")
        x = reshape(x, (shp[0], shp[1], heads, shp[2] // heads))
    size = int(x.shape[3])  # type: ignore[arg-type]
    dim = n.attr("rotary_embedding_dim", 0) or size
    if pos is not None:
        cos, sin = gather(cos, pos, 0), gather(sin, pos, 0)
    cos, sin = expand_dims(cos, 2), expand_dims(sin, 2)  # (batch, seq, 1, dim / 2)
    rot = getitem(x, (..., slice(0, dim)))
    interleaved = bool(n.attr("interleaved", 0))
    if interleaved:
        x1, x2 = getitem(rot, (..., slice(0, None, 2))), getitem(rot, (..., slice(1, None, 2)))
    else:
        x1, x2 = split(rot, 2, -1)
    real = m.subtract(m.multiply(cos, x1), m.multiply(sin, x2))
    imag = m.add(m.multiply(sin, x1), m.multiply(cos, x2))
    if interleaved:
        rot = reshape(stack([real, imag], -1), tuple(rot.shape))
    else:
        rot = concat([real, imag], -1)
    y = concat([rot, getitem(x, (..., slice(dim, None)))], -1) if dim < size else rot
    return transpose(y, (0, 2, 1, 3)) if len(shp) == 4 else reshape(y, shp)


def _swiglu(n: Node, a: Tensor, b: Tensor) -> Tensor:
    gate = _as(sigmoid(m.multiply(a, n.attr("alpha", 1.0))), a.dtype)
    return m.multiply(m.multiply(a, gate), b)


def _tensor_scatter(n: Node, cache: Tensor, update: Tensor,
                    write: Tensor | None = None) -> Tensor:
    shp, ushp = n.static_shape(cache), n.static_shape(update)
    axis = n.attr("axis", -2) % len(shp)
    length, count = shp[axis], ushp[axis]
    # rows (batch, length, rest): where update row s lands, row write[b] + s
    perm = (0, axis, *(i for i in range(len(shp)) if i not in (0, axis)))
    c = reshape(transpose(cache, perm), (shp[0], length, -1))
    u = reshape(transpose(update, perm), (ushp[0], count, -1))
    start = zeros_like(getitem(c, (slice(None), 0, 0)), "int64") if write is None \
        else cast(write, "int64")
    target = m.add(expand_dims(start, 1), constant(np.arange(count)))  # (batch, count)
    if n.attr("mode", "linear") == "circular":
        target = m.mod(target, length)
    hot = m.equal(expand_dims(target, 1), constant(np.arange(length).reshape(length, 1)))
    written = matmul(_as(hot, c.dtype), u)  # (batch, length, rest)
    out = where(expand_dims(m.any(hot, axis=-1), -1), written, c)
    back = tuple(int(i) for i in np.argsort(perm))
    return transpose(reshape(out, tuple(shp[i] for i in perm)), back)


# ---------------------------------------------------------------------------------------------
# signal: DFT as products with cos and sin matrices computed at import; windows

def _dft(n: Node, x: Tensor, length: Tensor | None = None, axis_in: Tensor | None = None
         ) -> Tensor:
    shp = n.static_shape(x)
    axis = int(n.value(2, np.array(-2))) if n.opset >= 20 else n.attr("axis", 1)
    axis %= len(shp)
    inverse, onesided = bool(n.attr("inverse", 0)), bool(n.attr("onesided", 0))
    size = shp[axis]
    total = int(n.value(1)) if n.has(1) else 2 * (size - 1) if inverse and onesided else size
    # the signal along the last axis
    perm = (*(i for i in range(len(shp) - 1) if i != axis), axis)
    parts = [transpose(squeeze(getitem(x, (..., slice(j, j + 1))), -1), perm)
             for j in range(shp[-1])]
    xr, xi = parts[0], parts[1] if len(parts) > 1 else None
    k = np.arange(size).reshape(-1, 1)  # input positions (frequencies for the inverse)
    used = k < (total // 2 + 1 if inverse and onesided else total)
    if inverse and onesided:  # a real signal from half a Hermitian spectrum
        out = np.arange(total).reshape(1, -1)
        weight = np.where((k == 0) | (2 * k == total), 1.0, 2.0) * used / total
        angle = 2 * np.pi * k * out / total
        cos_m, sin_m = np.cos(angle) * weight, np.sin(angle) * weight
        y = matmul(xr, constant(cos_m.astype(x.dtype)))
        if xi is not None:
            y = m.subtract(y, matmul(xi, constant(sin_m.astype(x.dtype))))
        ys = [y]
    else:
        freqs = np.arange(total // 2 + 1 if onesided else total).reshape(1, -1)
        angle = 2 * np.pi * k * freqs / total
        sign, scale = (1.0, 1.0 / total) if inverse else (-1.0, 1.0)
        cos_c = constant((np.cos(angle) * used * scale).astype(x.dtype))
        sin_c = constant((sign * np.sin(angle) * used * scale).astype(x.dtype))
        # (xr + i xi)(cos + i sin)
        re, im = matmul(xr, cos_c), matmul(xr, sin_c)
        if xi is not None:
            re = m.subtract(re, matmul(xi, sin_c))
            im = m.add(im, matmul(xi, cos_c))
        ys = [re, im]
    back = tuple(int(i) for i in np.argsort(perm))
    return stack([transpose(y, back) for y in ys], -1)


def _window(terms: Sequence[float]) -> Converter:
    """A cosine-sum window: sum of ``terms[j] * cos(2 pi j i / N)``, alternating signs."""
    def convert(n: Node, size: Tensor) -> Tensor:
        count = int(n.value(0))
        denom = count if n.attr("periodic", 1) else count - 1
        i = np.arange(count, dtype=np.float64)
        w = sum((-1) ** j * a * np.cos(2 * np.pi * j * i / denom) for j, a in enumerate(terms))
        return constant(np.asarray(w).astype(onnx_dtype(n.attr("output_datatype", 1), f"{n}: ")))
    return convert


# ---------------------------------------------------------------------------------------------
# quantization

def _quant_param(n: Node, p: Tensor, rank: int, shape: tuple[int, ...]) -> Tensor:
    """A scale or zero point shaped to broadcast against the input (per axis, per block)."""
    if p.ndim == 0 or (p.ndim == 1 and p.shape[0] == 1 and not n.attr("block_size")):
        return reshape(p, ())
    axis = n.attr("axis", 1) % rank
    block = n.attr("block_size", 0)
    if not block:
        return reshape(p, (-1,) + (1,) * (rank - axis - 1))
    ps = n.static_shape(p)
    spread = broadcast_to(expand_dims(p, axis + 1), (*ps[:axis + 1], block, *ps[axis + 1:]))
    spread = reshape(spread, (*ps[:axis], ps[axis] * block, *ps[axis + 1:]))
    return getitem(spread, (slice(None),) * axis + (slice(0, shape[axis]),))


def _quantize(n: Node, x: Tensor, scale: Tensor, zero: Tensor | None = None) -> Tensor:
    shape = n.static_shape(x)
    out = zero.dtype if zero is not None else onnx_dtype(n.attr("output_dtype", 2), f"{n}: ")
    if out.kind not in "iu":
        raise n.error(InvalidArgumentError, f"quantizing to {out} is not supported")
    work = "float64" if out.itemsize >= 4 else "float32"
    y = m.round(m.divide(_as(x, work), _as(_quant_param(n, scale, x.ndim, shape), work)))
    if zero is not None:
        y = m.add(y, _as(_quant_param(n, zero, x.ndim, shape), work))
    info = np.iinfo(out)
    return cast(m.minimum(m.maximum(y, float(info.min)), float(info.max)), out)


def _dequantize(n: Node, x: Tensor, scale: Tensor, zero: Tensor | None = None) -> Tensor:
    shape = n.static_shape(x)
    y = _as(x, "float32")
    if zero is not None:
        y = m.subtract(y, _as(_quant_param(n, zero, x.ndim, shape), "float32"))
    y = m.multiply(y, _quant_param(n, scale, x.ndim, shape))
    out = n.attr("output_dtype")
    return _as(y, onnx_dtype(out, f"{n}: ") if out else scale.dtype)


# ---------------------------------------------------------------------------------------------
# the table

#: ONNX op type -> converter, merged into ``import_ops.CONVERTERS``
NN_CONVERTERS: dict[str, Converter] = {
    "Attention": _attention, "RNN": _recurrent, "GRU": _recurrent, "LSTM": _recurrent,
    "GridSample": _grid_sample, "RotaryEmbedding": _rotary_embedding, "SwiGLU": _swiglu,
    "TensorScatter": _tensor_scatter, "DFT": _dft,
    "HannWindow": _window([0.5, 0.5]), "HammingWindow": _window([25 / 46, 21 / 46]),
    "BlackmanWindow": _window([0.42, 0.5, 0.08]),
    "QuantizeLinear": _quantize, "DequantizeLinear": _dequantize,
}
