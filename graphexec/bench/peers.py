"""The built-in workloads in PyTorch, TensorFlow and JAX, for ``graphexec bench --peers``.

Each framework runs in its own subprocess, so its thread pool has the machine to itself::

    python -m graphexec.bench.peers FRAMEWORK WORKLOAD IN.npz OUT.json [WORKLOAD IN OUT ...]
                                    [--min-time S]

loads the workload's arrays (``Workload.arrays(seed)``) from ``IN.npz``, runs the same
computation in each of the framework's modes (eager and compiled) and writes ``OUT.json``, with
each mode's first output in ``<OUT stem>.<mode slug>.npy`` next to it.  ``run_peers`` does all
of that from the parent and compares the outputs with graphexec's eager result.

Each workload is written once below, over a small table of the framework's ops (``_Ops``); the
layouts are graphexec's: NHWC images, HWIO filters, VALID convolutions after explicit padding.

>>> from graphexec.bench.peers import FRAMEWORKS, available
>>> FRAMEWORKS
('torch', 'tensorflow', 'jax')
>>> available("jax", python="/no/such/python")
False
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import InvalidArgumentError
from .stats import autorange, summarize, time_blocks
from .workloads import _CNN_WEIGHTS, _MLP_WEIGHTS, LR, WORKLOADS, Workload, get

__all__ = ["FRAMEWORKS", "available", "run_peers", "main"]

FRAMEWORKS = ("torch", "tensorflow", "jax")
#: what a mode's first output must match graphexec's eager output to (``np.allclose``)
RTOL, ATOL = 1e-4, 1e-5
MIN_BLOCKS = 7

Arrays = dict[str, np.ndarray]
Call = Callable[[], Any]  # one call of a mode, finished (async work waited for)


def _check_frameworks(names: Sequence[str]) -> None:
    for name in names:
        if name not in FRAMEWORKS:
            raise InvalidArgumentError(f"bench --peers: no framework {name!r}; choose from "
                                       f"{', '.join(FRAMEWORKS)}")


def available(name: str, python: str | None = None) -> bool:
    """Whether framework ``name`` (one of ``FRAMEWORKS``) is installed for the interpreter
    ``python`` (this one by default; another is asked in a subprocess)."""
    _check_frameworks([name])
    if python is None or python == sys.executable:
        return importlib.util.find_spec(name) is not None
    code = "import importlib.util as u, sys; sys.exit(u.find_spec(sys.argv[1]) is None)"
    try:
        return subprocess.run([python, "-c", code, name], capture_output=True,
                              timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


# -- the workloads, written once over a framework's ops -------------------------------------------
@dataclass(frozen=True)
class _Ops:
    """The ops the workloads use, in one framework; images are NHWC, filters HWIO."""

    sin: Callable[[Any], Any]
    exp: Callable[[Any], Any]
    tanh: Callable[[Any], Any]
    relu: Callable[[Any], Any]
    softmax: Callable[[Any], Any]  # over the last axis
    sum0: Callable[[Any], Any]  # sum over axis 0
    pad: Callable[[Any, int, int, str], Any]  # (x, h, w, numpy mode): h and w on either side
    conv: Callable[[Any, Any], Any]  # stride 1, VALID
    pool: Callable[[Any], Any]  # 2x2 max pool, stride 2
    flatten: Callable[[Any, int], Any]  # reshape to (-1, n)
    xent: Callable[[Any, Any], Any]  # (labels, logits): mean sparse softmax cross-entropy


def _take(x: Any, axis: int, lo: int, hi: int) -> Any:
    return x[(slice(None),) * axis + (slice(lo, hi),)]


def _concat_pad(x: Any, h: int, w: int, mode: str, cat: Callable[[list[Any], int], Any],
                flip: Callable[[Any, int], Any]) -> Any:
    """numpy's symmetric, edge or wrap padding of axes 1 and 2 by slicing and concatenating
    (for pads no wider than the axis)."""
    for axis, k in ((1, h), (2, w)):
        if k:
            n = x.shape[axis]
            if mode == "symmetric":
                parts = [flip(_take(x, axis, 0, k), axis), x, flip(_take(x, axis, n - k, n), axis)]
            elif mode == "edge":
                parts = [_take(x, axis, 0, 1)] * k + [x] + [_take(x, axis, n - 1, n)] * k
            else:  # wrap
                parts = [_take(x, axis, n - k, n), x, _take(x, axis, 0, k)]
            x = cat(parts, axis)
    return x


def _mlp_logits(o: _Ops, p: Sequence[Any], x: Any) -> Any:
    w1, b1, w2, b2, w3, b3 = p
    h = o.relu(x @ w1 + b1)
    h = o.relu(h @ w2 + b2)
    return h @ w3 + b3


def _cnn_logits(o: _Ops, p: Sequence[Any], x: Any) -> Any:
    k1, c1, k2, c2, w, b = p
    h = o.pool(o.relu(o.conv(o.pad(x, 1, 1, "reflect"), k1) + c1))
    h = o.pool(o.relu(o.conv(o.pad(h, 1, 1, "reflect"), k2) + c2))
    return o.flatten(h, 7 * 7 * 32) @ w + b


def _tiny(o: _Ops, W: Callable[[str], Any]) -> Callable[..., Any]:
    def tiny_ops(x: Any) -> Any:
        for _ in range(25):
            x = o.sin(x * 0.5 + 1.0) - 0.25
        return x
    return tiny_ops


def _elementwise(o: _Ops, W: Callable[[str], Any]) -> Callable[..., Any]:
    def elementwise_4m(x: Any) -> Any:
        y = o.relu(x * 2.0 + 1.0)
        y = y * o.exp(-y) + o.sin(x)
        return y * 0.5 - 0.125
    return elementwise_4m


def _mlp(o: _Ops, W: Callable[[str], Any]) -> Callable[..., Any]:
    return lambda x: o.softmax(_mlp_logits(o, [W(k) for k in _MLP_WEIGHTS], x))


def _cnn(o: _Ops, W: Callable[[str], Any]) -> Callable[..., Any]:
    return lambda x: o.softmax(_cnn_logits(o, [W(k) for k in _CNN_WEIGHTS], x))


def _matmul_const(o: _Ops, W: Callable[[str], Any]) -> Callable[..., Any]:
    def matmul_const(x: Any) -> Any:
        a, b, c = W("a"), W("b"), W("c")
        m = (a @ b) * 0.5 + c  # constant sub-expressions, computed in the body
        h = o.tanh(x @ m)
        return h @ (m @ a) + o.sum0(b @ c)
    return matmul_const


def _padding(o: _Ops, W: Callable[[str], Any]) -> Callable[..., Any]:
    def padding_pipeline(x: Any) -> Any:
        p = o.pad(x, 2, 2, "reflect")
        blur = (p[:, :-4, 2:-2] + p[:, 4:, 2:-2] + p[:, 2:-2, :-4] + p[:, 2:-2, 4:]
                + p[:, 2:-2, 2:-2]) * 0.2
        q = o.pad(blur, 1, 1, "symmetric")
        edges = q[:, 2:, 1:-1] - q[:, :-2, 1:-1]
        e = o.pad(edges, 0, 1, "edge")
        edges = e[:, :, 2:] - e[:, :, :-2] + edges
        w = o.pad(x, 3, 3, "wrap")[:, :-6, 6:]
        return blur + 0.5 * edges + 0.1 * w
    return padding_pipeline


#: inference workloads: (ops, weight getter) -> fn(*inputs); ``W`` is called in the body
_INFER: dict[str, Callable[[_Ops, Callable[[str], Any]], Callable[..., Any]]] = {
    "tiny_ops": _tiny, "elementwise_4m": _elementwise, "mlp_inference": _mlp,
    "cnn_inference": _cnn, "matmul_const": _matmul_const, "padding_pipeline": _padding}
#: training workloads: logits(ops, params, x) and the names of the params
_TRAIN: dict[str, tuple[Callable[[_Ops, Sequence[Any], Any], Any], tuple[str, ...]]] = {
    "mlp_train": (_mlp_logits, _MLP_WEIGHTS), "cnn_train": (_cnn_logits, _CNN_WEIGHTS)}


# -- the frameworks --------------------------------------------------------------------------------
class _Peer(NamedTuple):
    version: str
    threads: int
    modes: dict[str, Callable[[], Call]]  # mode -> make a call (with fresh weights)
    to_numpy: Callable[[Any], np.ndarray]


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _torch(wl: Workload, a: Arrays) -> _Peer:
    import torch
    import torch.nn.functional as F

    def nchw(t: Any) -> Any:
        return t.permute(0, 3, 1, 2)

    def nhwc(t: Any) -> Any:
        return t.permute(0, 2, 3, 1)

    def pad(x: Any, h: int, w: int, mode: str) -> Any:
        if mode == "symmetric":  # torch has no symmetric mode
            return _concat_pad(x, h, w, mode, torch.cat, lambda t, ax: torch.flip(t, [ax]))
        tmode = {"reflect": "reflect", "edge": "replicate", "wrap": "circular"}[mode]
        return nhwc(F.pad(nchw(x), (w, w, h, h), mode=tmode))

    o = _Ops(torch.sin, torch.exp, torch.tanh, torch.relu, lambda x: torch.softmax(x, -1),
             lambda x: torch.sum(x, 0), pad,
             lambda x, k: nhwc(F.conv2d(nchw(x), k.permute(3, 2, 0, 1))),
             lambda x: nhwc(F.max_pool2d(nchw(x), 2, 2)), lambda x, n: x.reshape(-1, n),
             lambda y, logits: F.cross_entropy(logits, y))
    args = [torch.from_numpy(a[k]) for k in wl.inputs]

    def make(compiled: bool) -> Call:
        torch.set_grad_enabled(wl.training)
        if wl.training:
            logits, keys = _TRAIN[wl.name]
            p = [torch.tensor(a[k], requires_grad=True) for k in keys]

            def step(x: Any, y: Any) -> Any:
                loss = o.xent(y, logits(o, p, x))
                grads = torch.autograd.grad(loss, p)
                with torch.no_grad():
                    for w, g in zip(p, grads):
                        w -= LR * g
                return loss.detach()
            fn: Callable[..., Any] = step
        else:
            consts = {k: torch.from_numpy(v) for k, v in a.items()}
            fn = _INFER[wl.name](o, consts.__getitem__)
        if compiled:
            if hasattr(torch._dynamo.config, "trace_autograd_ops"):  # one graph for the step,
                torch._dynamo.config.trace_autograd_ops = True  # not a break at autograd.grad
            fn = torch.compile(fn)
        return lambda: fn(*args)  # torch on the CPU is synchronous

    return _Peer(torch.__version__, torch.get_num_threads(),
                 {"torch eager": partial(make, False), "torch.compile": partial(make, True)},
                 lambda t: t.detach().cpu().numpy())


def _tensorflow(wl: Workload, a: Arrays) -> _Peer:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    def pad(x: Any, h: int, w: int, mode: str) -> Any:
        if mode in ("reflect", "symmetric"):
            return tf.pad(x, [[0, 0], [h, h], [w, w], [0, 0]], mode=mode.upper())
        return _concat_pad(x, h, w, mode, tf.concat, lambda t, ax: tf.reverse(t, [ax]))

    def xent(y: Any, logits: Any) -> Any:
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))

    o = _Ops(tf.sin, tf.exp, tf.tanh, tf.nn.relu, tf.nn.softmax, lambda x: tf.reduce_sum(x, 0),
             pad, lambda x, k: tf.nn.conv2d(x, k, 1, "VALID"),
             lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID"), lambda x, n: tf.reshape(x, (-1, n)),
             xent)
    args = [tf.constant(a[k]) for k in wl.inputs]

    def make(wrap: Callable[[Callable[..., Any]], Callable[..., Any]], eager: bool) -> Call:
        if wl.training:
            logits, keys = _TRAIN[wl.name]
            p = [tf.Variable(a[k], name=k) for k in keys]

            def step(x: Any, y: Any) -> Any:
                with tf.GradientTape() as tape:
                    loss = o.xent(y, logits(o, p, x))
                for v, g in zip(p, tape.gradient(loss, p)):
                    v.assign_sub(LR * g)
                return loss
            fn = wrap(step)
        else:  # a graph gets the weights as constants, which grappler and XLA may fold
            consts = {k: tf.constant(v) for k, v in a.items()}
            fn = wrap(_INFER[wl.name](o, consts.__getitem__ if eager
                                      else lambda k: tf.constant(a[k])))
        return lambda: fn(*args)  # ops on the CPU return finished tensors

    return _Peer(tf.__version__,
                 tf.config.threading.get_intra_op_parallelism_threads() or _cpus(),
                 {"tf eager": partial(make, lambda f: f, True),
                  "tf.function": partial(make, tf.function, False),
                  "tf.function(jit_compile)": partial(make, partial(tf.function, jit_compile=True),
                                                      False)},
                 lambda t: t.numpy())


def _jax(wl: Workload, a: Arrays) -> _Peer:
    import jax
    import jax.numpy as jnp

    def pool(x: Any) -> Any:  # a Python scalar init: jit would trace an array into a tracer
        window = (1, 2, 2, 1)  # and lose reduce_window's max-pool gradient
        return jax.lax.reduce_window(x, -np.inf, jax.lax.max, window, window, "VALID")

    def xent(y: Any, logits: Any) -> Any:
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    o = _Ops(jnp.sin, jnp.exp, jnp.tanh, jax.nn.relu, jax.nn.softmax,
             lambda x: jnp.sum(x, 0),
             lambda x, h, w, mode: jnp.pad(x, ((0, 0), (h, h), (w, w), (0, 0)), mode=mode),
             lambda x, k: jax.lax.conv_general_dilated(
                 x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")),
             pool, lambda x, n: x.reshape(-1, n), xent)
    # int64 labels are int32 in JAX without x64
    arr = {k: v.astype(np.int32) if v.dtype == np.int64 else v for k, v in a.items()}
    args = [jnp.asarray(arr[k]) for k in wl.inputs]

    def make(jit: bool) -> Call:
        if wl.training:
            logits, keys = _TRAIN[wl.name]

            def step(p: list[Any], x: Any, y: Any) -> tuple[Any, list[Any]]:
                loss, g = jax.value_and_grad(lambda p: o.xent(y, logits(o, p, x)))(p)
                return loss, [w - LR * gw for w, gw in zip(p, g)]
            train = jax.jit(step) if jit else step
            params = [[jnp.asarray(arr[k]) for k in keys]]

            def call() -> Any:  # trains: the new params go into the next call
                loss, params[0] = jax.block_until_ready(train(params[0], *args))
                return loss
            return call
        # closed-over arrays are constants of the traced function under jit
        consts = {k: jnp.asarray(v) for k, v in arr.items()}
        fn = _INFER[wl.name](o, consts.__getitem__)
        fn = jax.jit(fn) if jit else fn
        return lambda: jax.block_until_ready(fn(*args))

    return _Peer(jax.__version__, _cpus(),
                 {"jax eager": partial(make, False), "jax.jit": partial(make, True)},
                 np.asarray)


_PEERS: dict[str, Callable[[Workload, Arrays], _Peer]] = {
    "torch": _torch, "tensorflow": _tensorflow, "jax": _jax}


# -- the runner (in the framework's subprocess) ----------------------------------------------------
def _output_path(out: Path, mode: str) -> Path:
    """Where the runner writing ``out`` puts ``mode``'s first output."""
    return out.with_name(f"{out.stem}.{re.sub(r'[^a-z0-9]+', '-', mode.lower()).strip('-')}.npy")


def _measure(mode: str, make: Callable[[], Call], to_numpy: Callable[[Any], np.ndarray],
             out: Path, min_time: float) -> dict[str, Any]:
    """One mode's record: the first call's time and output, then (after a warm-up call) blocks
    of ``autorange``'s number of calls, for ``min_time`` seconds and ``MIN_BLOCKS`` at least."""
    rec: dict[str, Any] = {"mode": mode, "first_call_s": None, "median_s": None, "iqr_s": None,
                           "q1_s": None, "q3_s": None, "number": None, "samples_s": None,
                           "noisy": None, "error": None}
    try:
        call = make()
        t0 = time.perf_counter()
        first = call()
        rec["first_call_s"] = time.perf_counter() - t0
        np.save(_output_path(out, mode), to_numpy(first))
        call()
        number = autorange(call)
        samples: list[float] = []
        deadline = time.perf_counter() + min_time
        while len(samples) < MIN_BLOCKS or time.perf_counter() < deadline:
            samples += time_blocks(call, number, 1)
        rec.update(summarize(samples, number).to_dict())
    except Exception as e:  # a mode that fails is reported, the others still run
        msg = str(e).strip()
        rec["error"] = f"{type(e).__name__}: {msg[:1500]}{' ...' if len(msg) > 1500 else ''}"
    return rec


def _run_workload(framework: str, name: str, inp: Path, out: Path, min_time: float) -> None:
    wl = get(name)
    with np.load(inp) as data:
        arrays = {k: data[k] for k in data.files}
    peer = _PEERS[framework](wl, arrays)
    modes = []
    for mode, make in peer.modes.items():
        rec = _measure(mode, make, peer.to_numpy, out, min_time)
        modes.append(rec)
        took = (f"{rec['median_s'] * 1e3:.3f} ms (first call {rec['first_call_s']:.3f} s)"
                if rec["error"] is None else f"failed: {rec['error'][:200]}")
        print(f"{name}: {mode}: {took}", flush=True)
    out.write_text(json.dumps({"framework": framework, "version": peer.version, "workload": name,
                               "threads": peer.threads, "modes": modes}, indent=1))


def main(argv: Sequence[str] | None = None) -> int:
    """The runner: ``FRAMEWORK WORKLOAD IN.npz OUT.json [WORKLOAD IN.npz OUT.json ...]
    [--min-time S]``, each workload in turn in this one process."""
    ap = argparse.ArgumentParser(prog="python -m graphexec.bench.peers",
                                 description="run graphexec's workloads in a peer framework")
    ap.add_argument("framework", choices=FRAMEWORKS)
    ap.add_argument("jobs", nargs="+", metavar="WORKLOAD IN.npz OUT.json")
    ap.add_argument("--min-time", type=float, default=1.0,
                    help="seconds of timed blocks per mode (default 1.0)")
    ns = ap.parse_args(argv)
    if len(ns.jobs) % 3:
        ap.error("give WORKLOAD IN.npz OUT.json triples")
    for i in range(0, len(ns.jobs), 3):
        name, inp, out = ns.jobs[i:i + 3]
        if name not in WORKLOADS:
            ap.error(f"no workload {name!r}; choose from {', '.join(WORKLOADS)}")
        _run_workload(ns.framework, name, Path(inp), Path(out), ns.min_time)
    return 0


# -- the parent ------------------------------------------------------------------------------------
def _subprocess(cmd: list[str], timeout: float, say: Callable[[str], None], prefix: str,
                err: Path) -> str | None:
    """Runs ``cmd``, passing its stdout lines to ``say`` after ``prefix``; None, or what went
    wrong."""
    timed_out = threading.Event()
    with err.open("w+") as errf:
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, text=True,
                                    start_new_session=True)  # a group: kill compile workers too
        except OSError as e:
            return f"could not start {cmd[0]}: {e}"

        def kill() -> None:
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                proc.kill()
        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            with proc:
                for line in proc.stdout or ():
                    say(prefix + line.rstrip())
        finally:
            timer.cancel()
        errf.seek(0)
        tail = errf.read()[-3000:].strip()
    if timed_out.is_set():
        return f"timed out after {timeout:g} s; stderr: {tail}"
    return f"exit status {proc.returncode}; stderr: {tail}" if proc.returncode else None


def _compare(rec: dict[str, Any], out: Path, ref: np.ndarray) -> None:
    """Adds each mode's ``max_abs_diff`` from graphexec's eager output ``ref`` (and whether
    they match within ``RTOL``/``ATOL``)."""
    for m in rec["modes"]:
        m["max_abs_diff"] = m["matches"] = None
        path = _output_path(out, m["mode"])
        if not path.exists():
            continue
        got = np.load(path)
        if got.shape != ref.shape:
            m["error"] = m["error"] or f"output shape {got.shape} is not graphexec's {ref.shape}"
            continue
        m["max_abs_diff"] = float(np.max(np.abs(got.astype(np.float64) - ref), initial=0.0))
        m["matches"] = bool(np.allclose(got, ref, rtol=RTOL, atol=ATOL))


def run_peers(workloads: list[str], frameworks: list[str] | None = None,
              python: str | None = None, seed: int = 0, min_time: float = 1.0,
              progress: Callable[[str], None] | None = None, timeout: float = 600
              ) -> list[dict[str, Any]]:
    """Runs ``workloads`` (names from ``WORKLOADS``) in each of ``frameworks`` (all of
    ``FRAMEWORKS`` by default) that the interpreter ``python`` (this one by default) has, one
    subprocess per framework, and returns a record per (framework, workload): the runner's
    JSON (``framework``, ``version``, ``workload``, ``threads``, ``modes``), each mode with its
    ``max_abs_diff`` from graphexec's eager output and ``matches`` (within ``RTOL``/``ATOL``).

    A framework that is not installed gets one record ``{"framework", "available": False,
    "reason"}``; a subprocess that fails or runs past ``timeout`` seconds per workload gives
    its workloads without a result an ``"error"`` (with the tail of its stderr) and no modes.
    ``progress`` receives a line per framework and per mode.
    """
    names = list(FRAMEWORKS if frameworks is None else frameworks)
    _check_frameworks(names)
    wls = [get(w) for w in workloads]
    say = progress or (lambda line: None)
    python = python or sys.executable
    present = {fw: available(fw, python) for fw in names}
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="graphexec-peers-") as tmp:
        d = Path(tmp)
        refs: dict[str, np.ndarray] = {}
        for wl in wls if any(present.values()) else ():
            arrays = wl.arrays(seed)
            saved: dict[str, Any] = dict(arrays)  # (savez's stubs would take one for a flag)
            np.savez(d / f"{wl.name}.npz", **saved)
            fn, args = wl.build(arrays)
            refs[wl.name] = np.asarray(fn(*args).numpy(), np.float64)
        for fw in names:
            if not present[fw]:
                say(f"{fw}: not installed")
                records.append({"framework": fw, "available": False, "reason": "not installed"})
                continue
            if not wls:
                continue
            say(f"{fw}: running {', '.join(workloads)}")
            jobs = [(wl.name, d / f"{wl.name}.npz", d / f"{fw}.{wl.name}.json") for wl in wls]
            cmd = [python, "-m", "graphexec.bench.peers", fw,
                   *(str(part) for job in jobs for part in job), "--min-time", str(min_time)]
            error = _subprocess(cmd, timeout * len(jobs), say, f"{fw}: ", d / f"{fw}.stderr")
            for name, _, out in jobs:
                if out.exists():
                    rec = {"available": True, **json.loads(out.read_text())}
                    _compare(rec, out, refs[name])
                else:
                    rec = {"framework": fw, "available": True, "workload": name, "modes": [],
                           "error": error or "the runner wrote no result"}
                records.append(rec)
    return records


if __name__ == "__main__":
    sys.exit(main())
