"""Scaling of gx.dask on local clusters of worker processes: batch inference of an MLP
(``map_batches``, one task per chunk, the input generated on the workers) and one
data-parallel training step (``DataParallel``: the batch from the client, the parameters
broadcast, the gradients back) on 1 and on 2 workers (one thread each).  Prints medians of
several repeats, throughput, the efficiency T1 / (2 T2) and, per training step, the bytes
moved and the time in compute and in communication.

A machine's virtual CPUs need not do twice the work of one (shared cores, other tenants), so
the machine's own ceiling is measured alongside, without Dask: two plain processes each run
the same model's eager inference on one chunk (``--chunk`` rows), ``rows / chunk / 2`` times,
starting their timed loops together at a barrier, against one such process alone; the
efficiency is the time alone over the slower of the two.  The three are measured in interleaved
rounds (both clusters and the plain processes stay up), so that a drift of the machine's speed
touches them alike; each efficiency is the median of the rounds' ratios, and each timed
training step follows an untimed one.

    python benchmarks/dask_scaling.py [--repeats 7] [--rows 65536] [--batch 8192] [--width 512]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import graphexec as gx

N_IN = 256


def make_model(width: int) -> gx.layers.Layer:
    model = gx.layers.Sequential([gx.layers.Dense(width, activation="relu", seed=0),
                                  gx.layers.Dense(width, activation="relu", seed=1),
                                  gx.layers.Dense(10, seed=2)])
    model(np.zeros((1, N_IN), "float32"))
    return model


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def plain_inference(job: tuple[int, int, int, Any]) -> float:
    """In a plain process: seconds for ``n`` eager inferences of one chunk of ``rows`` rows,
    timed from when every process of the round has passed ``barrier``."""
    rows, width, n, barrier = job
    model = make_model(width)
    x = np.random.default_rng(0).normal(size=(rows, N_IN)).astype("float32")
    model(x)
    barrier.wait(timeout=600)  # NOTE: the processes of a round start their timed loops together
    t0 = time.perf_counter()
    for _ in range(n):
        model(x)
    return time.perf_counter() - t0


class Setup:
    """A cluster of ``workers`` processes with the inference and the trainer ready to time."""

    def __init__(self, workers: int, args: argparse.Namespace, stack: contextlib.ExitStack):
        import dask.array as da
        from distributed import Client, LocalCluster

        cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1,
                                                   processes=True, dashboard_address=":0"))
        self.client = stack.enter_context(Client(cluster, set_as_default=False))
        self.model = make_model(args.width)
        x = da.random.default_rng(0).standard_normal((args.rows, N_IN),
                                                     chunks=(args.chunk, N_IN), dtype="float32")
        self.y = gx.dask.map_batches(self.model, x, client=self.client)
        rng = np.random.default_rng(1)
        self.batch = (rng.normal(size=(args.batch, N_IN)).astype("float32"),
                      rng.integers(0, 10, size=args.batch))

        def loss(t: Any, p: Any) -> Any:
            return gx.losses.sparse_categorical_crossentropy(t, p, from_logits=True)

        self.trainer = gx.dask.DataParallel.from_model(self.client, self.model, loss,
                                                       gx.optimizers.SGD(0.01), shards=workers)
        self.stats: list[gx.dask.StepStats] = []
        self.infer(), self.train()  # warm up: the workers load the graph files once
        self.stats.clear()

    def infer(self) -> float:
        return timed(lambda: self.client.compute(self.y).result())

    def train(self) -> float:
        # NOTE: one step first: the first step after other work (the inference) runs slower
        # while the worker's allocator gets its memory back
        self.trainer.step(*self.batch)
        t = timed(lambda: self.trainer.step(*self.batch))
        assert self.trainer.last_stats is not None
        self.stats.append(self.trainer.last_stats)
        return t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--rows", type=int, default=65536, help="inference rows")
    p.add_argument("--chunk", type=int, default=4096, help="inference rows per chunk")
    p.add_argument("--batch", type=int, default=8192, help="training batch")
    p.add_argument("--width", type=int, default=512, help="hidden layer width")
    args = p.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"  # the plain processes' BLAS on one thread, as the workers'
    n = args.rows // args.chunk // 2
    times: dict[str, list[float]] = {k: [] for k in ("alone", "both", "i1", "i2", "t1", "t2")}
    with contextlib.ExitStack() as stack:
        spawn = multiprocessing.get_context("spawn")
        manager = stack.enter_context(spawn.Manager())
        alone = (args.chunk, args.width, n, manager.Barrier(1))
        both = (args.chunk, args.width, n, manager.Barrier(2))
        pool = stack.enter_context(spawn.Pool(2))
        one, two = Setup(1, args, stack), Setup(2, args, stack)
        for _ in range(args.repeats):
            times["alone"].append(pool.map(plain_inference, [alone])[0])
            # NOTE: chunksize 1: each process takes one job, and the barrier holds the first
            # until the second has its model built
            times["both"].append(max(pool.map(plain_inference, [both, both], chunksize=1)))
            times["i1"].append(one.infer())
            times["i2"].append(two.infer())
            times["t1"].append(one.train())
            times["t2"].append(two.train())
        params = sum(v.numpy().nbytes for v in one.model.trainable_variables)
        stats = {1: one.stats, 2: two.stats}

    def med(key: str) -> float:
        return statistics.median(times[key])

    def eff(a: str, b: str, scale: float = 2.0) -> float:
        return statistics.median(x / (scale * y) for x, y in zip(times[a], times[b], strict=True))

    ceiling = eff("alone", "both", 1.0)
    print(f"MLP 256-{args.width}-{args.width}-10 ({params / 1e6:.2f} MB of float32 parameters); "
          f"medians of {args.repeats} interleaved rounds; one thread per worker process")
    print(f"the machine: {os.cpu_count()} CPUs; two plain processes, started together, each "
          f"running the model eagerly {n} times on {args.chunk} rows, against one alone (no "
          f"Dask): efficiency {ceiling:.2f}, the ceiling of those below")
    print(f"\nbatch inference: {args.rows} rows in chunks of {args.chunk} "
          f"({args.rows // args.chunk} tasks)")
    for w in (1, 2):
        t = med(f"i{w}")
        print(f"  {w} worker(s): {t * 1e3:8.1f} ms  {args.rows / t:10.0f} rows/s")
    e = eff("i1", "i2")
    print(f"  efficiency T1 / (2 T2): {e:.2f} ({e / ceiling:.2f} of the machine's ceiling)")
    print(f"\ntraining step: batch {args.batch}, one shard per worker")
    for w in (1, 2):
        t, s = med(f"t{w}"), stats[w]
        print(f"  {w} worker(s): {t * 1e3:8.1f} ms  {args.batch / t:10.0f} samples/s; sent "
              f"{statistics.median(x.bytes_sent for x in s) / 1e6:.2f} MB, received "
              f"{statistics.median(x.bytes_received for x in s) / 1e6:.2f} MB; compute "
              f"{statistics.median(x.compute_seconds for x in s) * 1e3:.1f} ms, communication "
              f"{statistics.median(x.communication_seconds for x in s) * 1e3:.1f} ms, update "
              f"{statistics.median(x.update_seconds for x in s) * 1e3:.1f} ms")
    e = eff("t1", "t2")
    print(f"  efficiency T1 / (2 T2): {e:.2f} ({e / ceiling:.2f} of the machine's ceiling)")


if __name__ == "__main__":
    main()
