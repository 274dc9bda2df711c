"""Registry-wide checks: every op has sample cases, and its infer rule agrees with its kernel."""

import importlib
import pkgutil

import numpy as np
import pytest

import graphexec as gx
from graphexec.registry import REGISTRY, Spec

from . import cases as _cases_pkg

#: tested in test_graph.py
SOURCE_OPS = {"constant", "placeholder", "read_variable", "assign", "no_op"}


def _all_cases():
    merged = {}
    for mod in pkgutil.iter_modules(_cases_pkg.__path__):
        cases = importlib.import_module(f"{_cases_pkg.__name__}.{mod.name}").CASES
        for name, items in cases.items():
            merged.setdefault(name, []).extend(items)
    return merged


CASES = _all_cases()
PARAMS = [pytest.param(name, i, id=f"{name}-{i}") for name, items in sorted(CASES.items())
          for i in range(len(items))]


def test_every_op_has_cases():
    missing = sorted(set(REGISTRY) - SOURCE_OPS - set(CASES))
    assert not missing, f"ops with no sample case in tests/cases/: {missing}"
    unknown = sorted(set(CASES) - set(REGISTRY))
    assert not unknown, f"cases for unregistered ops: {unknown}"


def _specs(out):
    return (out,) if isinstance(out, Spec) else tuple(out)


@pytest.mark.parametrize(("name", "i"), PARAMS)
def test_infer_matches_kernel(name, i):
    op = REGISTRY[name]
    arrays, attrs = CASES[name][i]
    arrays = [np.asarray(a) for a in arrays]
    inferred = _specs(op.infer(*[Spec(a.shape, a.dtype) for a in arrays], **attrs))
    out = op.kernel(np, *arrays, **attrs)
    outs = tuple(np.asarray(o) for o in (out if op.n_outputs != 1 else (out,)))
    assert len(inferred) == len(outs) == (op.n_outputs or len(outs))
    for spec, o in zip(inferred, outs, strict=True):
        assert spec.shape == o.shape, f"{name}: infer says {spec.shape}, kernel gives {o.shape}"
        assert spec.dtype == o.dtype, f"{name}: infer says {spec.dtype}, kernel gives {o.dtype}"
    # with every input dim unknown, infer must still agree wherever it claims to know a dim
    unknown = _specs(op.infer(*[Spec((None,) * a.ndim, a.dtype) for a in arrays], **attrs))
    for spec, o in zip(unknown, outs, strict=True):
        assert len(spec.shape) == o.ndim
        assert all(d is None or d == k for d, k in zip(spec.shape, o.shape, strict=True))
        assert spec.dtype == o.dtype


def test_op_kinds_are_data():
    for op in REGISTRY.values():
        assert op.kind in ("elementwise", "reduction", "opaque", "source")
    assert not REGISTRY["read_variable"].pure and not REGISTRY["assign"].pure
    assert gx.REGISTRY is REGISTRY
