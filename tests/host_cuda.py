"""A host build of ``cupy.ElementwiseKernel`` for the CuPy stand-in (tests/fake_cupy.py): the
kernel's CUDA C++ source, with the parameters declared as CuPy declares them, is compiled by
the host's C++ compiler (``g++``, no contraction into fused multiply-adds, as the device build's
``--fmad=false``) and run over the broadcast elements.  So the generated source of fused groups
is compiled and its numbers checked on machines without a GPU.  It says nothing about NVRTC or
the device's libm: the ``gpu`` tests and the ``nvcc`` test do.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from typing import Any, ClassVar

import numpy as np

from graphexec.fusion.cuda import C_TYPES

#: the host compiler, if there is one
CXX = shutil.which("g++") or shutil.which("c++")
_DIR = os.path.join(tempfile.gettempdir(), f"graphexec-host-cuda-{os.getuid()}")
_LOCK = threading.Lock()
_LIBS: dict[str, Any] = {}


class CompileException(Exception):
    """``cupy.cuda.compiler.CompileException``: the compiler refused a kernel's source."""


def _params(text: str) -> list[tuple[np.dtype, str]]:
    out = []
    for p in text.split(","):
        dtype, name = p.split()
        out.append((np.dtype(dtype), name))
    return out


def _compile(source: str) -> Any:
    key = hashlib.sha1(source.encode()).hexdigest()
    with _LOCK:
        lib = _LIBS.get(key)
        if lib is not None:
            return lib
        os.makedirs(_DIR, exist_ok=True)
        so = os.path.join(_DIR, f"{key}.so")
        if not os.path.exists(so):
            cpp = os.path.join(_DIR, f"{key}.{os.getpid()}.cpp")
            with open(cpp, "w") as f:
                f.write(source)
            tmp = f"{so}.{os.getpid()}"
            done = subprocess.run([CXX, "-std=c++17", "-O1", "-ffp-contract=off", "-shared",
                                   "-fPIC", "-o", tmp, cpp], capture_output=True, text=True)
            if done.returncode:  # as NVRTC's refusal reaches CuPy's caller
                os.remove(cpp)
                raise CompileException(done.stderr)
            os.replace(tmp, so)
            os.remove(cpp)
        lib = _LIBS[key] = ctypes.CDLL(so)
        return lib


class ElementwiseKernel:
    """``cupy.ElementwiseKernel(in_params, out_params, operation, name, preamble=,
    options=)`` for the stand-in's device arrays: all outputs are passed in."""

    #: every launch, as (name, number of elements): the tests count them
    launches: ClassVar[list[tuple[str, int]]] = []

    def __init__(self, in_params: str, out_params: str, operation: str, name: str,
                 preamble: str = "", options: tuple[str, ...] = (), **kwargs: Any) -> None:
        self.ins, self.outs = _params(in_params), _params(out_params)
        self.name, self.options = name, options
        loads = [f"    const {C_TYPES[dt]} {n} = ((const {C_TYPES[dt]}*)args[{k}])[i];"
                 for k, (dt, n) in enumerate(self.ins)]
        stores = [f"    {C_TYPES[dt]}& {n} = (({C_TYPES[dt]}*)args[{len(self.ins) + k}])[i];"
                  for k, (dt, n) in enumerate(self.outs)]
        body = "\n".join("    " + line for line in operation.splitlines())
        self.source = "\n".join([
            "#include <cmath>", "using namespace std;", preamble,
            'extern "C" void gx_run(long long n, void** args) {',
            "  for (long long i = 0; i < n; ++i) {", *loads, *stores, "  {", body, "  }",
            "  }", "}", ""])

    def __call__(self, *args: Any) -> Any:
        from . import fake_cupy  # NOTE: here, as the stand-in imports this module

        if len(args) != len(self.ins) + len(self.outs):
            raise TypeError(f"{self.name} takes {len(self.ins)} inputs and {len(self.outs)} "
                            f"outputs, got {len(args)} arrays")
        fake_cupy.check_device_args(args)
        shape = np.broadcast_shapes(*[a.shape for a in args])
        outs = args[len(self.ins):]
        if any(o.shape != shape for o in outs):
            raise ValueError(f"{self.name}: an output does not have the broadcast shape {shape}")
        bufs = [np.ascontiguousarray(np.broadcast_to(a.view(np.ndarray), shape), dt)
                for a, (dt, _) in zip(args[:len(self.ins)], self.ins, strict=True)]
        bufs += [np.empty(shape, dt) for dt, _ in self.outs]
        ptrs = (ctypes.c_void_p * len(bufs))(*[b.ctypes.data for b in bufs])
        n = int(np.prod(shape))
        _compile(self.source).gx_run(ctypes.c_longlong(n), ptrs)
        type(self).launches.append((self.name, n))
        for o, b in zip(outs, bufs[len(self.ins):], strict=True):
            np.copyto(o.view(np.ndarray), b)
        return outs[0] if len(outs) == 1 else outs
