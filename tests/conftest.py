import os
import pathlib

import pytest

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # NOTE: the GPU machine has no hypothesis: its gpu tests do not need it
    settings = None
if settings is not None:
    settings.register_profile("ci", max_examples=60, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("nightly", max_examples=3000, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# compiled fused kernels of the tests stay in the checkout, not in the user's cache
os.environ.setdefault("GRAPHEXEC_CACHE_DIR",
                      str(pathlib.Path(__file__).resolve().parents[1] / ".cache"))
# tests see the same kernel from the first call on (and their subprocesses too); the tiered
# path has tests of its own (test_fusion.py)
os.environ["GRAPHEXEC_BACKGROUND_COMPILE"] = "0"


@pytest.fixture(autouse=True)
def _compile_when_first_needed():
    """Every test starts with background compiles off (a doctest may have turned them on)."""
    import graphexec

    graphexec.config.set_background_compile(False)


def pytest_configure(config):
    import graphexec

    graphexec.config.set_background_compile(False)
    config.addinivalue_line("markers", "gpu: needs cupy and a CUDA GPU")
    config.addinivalue_line("markers", "nightly: long randomized runs (HYPOTHESIS_PROFILE=nightly)")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("HYPOTHESIS_PROFILE") != "nightly":
        skip_nightly = pytest.mark.skip(reason="nightly run only (HYPOTHESIS_PROFILE=nightly)")
        for item in items:
            if "nightly" in item.keywords:
                item.add_marker(skip_nightly)
    try:
        import cupy

        has_gpu = cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        has_gpu = False
    if not has_gpu:
        skip = pytest.mark.skip(reason="cupy or a CUDA GPU is absent")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
