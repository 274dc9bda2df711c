"""graphexec in one page: the same model run eagerly and as a static graph.

Run with `make demo` (or `python examples/quickstart.py` inside the venv).
"""

import numpy as np

import graphexec as gx

# -- eager mode (the default): every line runs now -----------------------------------------
x = gx.constant(np.arange(6, dtype="float32").reshape(2, 3))
w = gx.Variable(gx.random.normal((3, 4), seed=0), name="w")
y = gx.nn.relu(x @ w + 1.0)
print("eager result", y.shape, y.dtype)
print(y.numpy())

# the signature feature: image padding, identical to numpy.pad in every mode
row = gx.constant([1.0, 2.0, 3.0])
for mode in ("constant", "reflect", "symmetric", "edge", "wrap"):
    print(f"pad {mode:9s}", gx.pad(row, [[2, 2]], mode=mode).numpy())

# -- graph mode: build first, run later ---------------------------------------------------
model = gx.nn.Sequential([
    gx.layers.Dense(8, activation="relu", seed=0),
    gx.layers.Dense(4, seed=1),
])
with gx.graph() as g:
    xs = gx.placeholder((None, 3), "float32", name="x")
    probs = gx.nn.softmax(model(xs))
print("\nstatic shape before anything ran:", probs.shape)
print(g)  # one line per node, pointing back at this file

batch = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
out = g.run(probs, feeds={xs: batch})
print("\ngraph result, rows sum to", out.sum(axis=1))

# the same layers called eagerly give the same numbers (same kernels, same weights)
eager_out = gx.nn.softmax(model(gx.constant(batch))).numpy()
print("max |graph - eager| =", float(np.abs(out - eager_out).max()))
print(f"networkx graph: {g.nx.number_of_nodes()} nodes, {g.nx.number_of_edges()} edges")

# -- the optimizer: the same graph compiled at level 3 (fusion and memory planning) -------------
compiled = g.compile(probs, optimize=3)
print("\n" + str(compiled.report))
print(compiled.graph)  # Dense + bias + relu is one fused_dense node now
print("max |level 3 - level 0| =",
      float(np.abs(compiled({xs: batch}) - g.run(probs, {xs: batch}, optimize=0)).max()))
