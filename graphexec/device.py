"""Devices: where an eager tensor's memory lives (the host, or a CUDA GPU through CuPy).

``gx.device("gpu")`` (or ``"cuda:1"``, ``"cpu"``) makes new tensors of the block live there:
constants, creation ops and Variables.  Ops run where their inputs are; inputs on different
devices are a ``DeviceError`` naming both (a 0-d host tensor, a Python number's, is the one
exception: it joins the others as a scalar).  ``Tensor.to(device)`` moves a tensor, and
``.numpy()`` copies one to the host: nothing is copied between devices otherwise.

>>> import graphexec as gx
>>> gx.current_device(), gx.constant(1.0).device
(Device('cpu'), Device('cpu'))
>>> gx.Device.parse("gpu")
Device('cuda', 0)
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .backend import get_xp, gpu_count
from .errors import DeviceError, InvalidArgumentError

__all__ = ["Device", "CPU", "device", "current_device", "device_of", "to_device"]

_CUDA = re.compile(r"(?:cuda|gpu)(?::(\d+))?")


@dataclass(frozen=True)
class Device:
    """A device: ``kind`` ``"cpu"`` or ``"cuda"`` and, for a GPU, its ``index``."""

    kind: str
    index: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("cpu", "cuda") or isinstance(self.index, bool) or not isinstance(
                self.index, int) or self.index < 0 or (self.kind == "cpu" and self.index):
            raise InvalidArgumentError(
                f"Device({self.kind!r}, {self.index!r}): a device is Device('cpu') or "
                "Device('cuda', N) with N >= 0; Device.parse takes 'cpu', 'gpu', 'cuda:N'")

    @classmethod
    def parse(cls, spec: Any, where: str = "device") -> Device:
        """``spec`` as a Device: ``"cpu"``, ``"gpu"`` or ``"cuda"`` (GPU 0), ``"cuda:N"``, or a
        Device.

        >>> from graphexec.device import Device
        >>> Device.parse("cuda:1"), Device.parse("cpu")
        (Device('cuda', 1), Device('cpu'))
        """
        if isinstance(spec, Device):
            return spec
        if isinstance(spec, str):
            text = spec.strip().lower()
            if text == "cpu":
                return CPU
            m = _CUDA.fullmatch(text)
            if m:
                return cls("cuda", int(m.group(1) or 0))
        raise InvalidArgumentError(f"{where}: unknown device {spec!r}; a device is 'cpu', "
                                   "'gpu' (or 'cuda', GPU 0) or 'cuda:N'")

    @classmethod
    def of_backend(cls, backend: str, where: str = "device") -> Device:
        """The device a backend name runs on: ``"numpy"`` the CPU, ``"cupy"`` GPU 0,
        ``"cupy:N"`` GPU N (``backend`` is the inverse).

        >>> from graphexec.device import Device
        >>> Device.of_backend("cupy:2"), Device.of_backend("numpy").backend
        (Device('cuda', 2), 'numpy')
        """
        if backend == "numpy":
            return CPU
        if backend == "cupy":
            return cls("cuda", 0)
        if backend.startswith("cupy:") and backend[5:].isdigit():
            return cls("cuda", int(backend[5:]))
        raise InvalidArgumentError(f"{where}: unknown backend {backend!r}; choose one of "
                                   "'numpy', 'cupy' (GPU 0) or 'cupy:N'")

    @property
    def backend(self) -> str:
        """The backend name of the device's kernels and plans: ``"numpy"``, ``"cupy"`` (GPU
        0) or ``"cupy:N"``."""
        if self.kind == "cpu":
            return "numpy"
        return "cupy" if self.index == 0 else f"cupy:{self.index}"

    def xp(self, where: str = "device") -> ModuleType:
        """The array module of the device's kernels; MissingExtraError without CuPy, and
        DeviceError for a GPU this machine does not have."""
        if self.kind == "cpu":
            return np
        xp = get_xp("cupy")
        count = gpu_count(xp)
        if self.index >= count:
            raise DeviceError(f"{where}: there is no {self}: CuPy sees {count} CUDA GPU"
                              f"{'s' if count != 1 else ''}")
        return xp

    def synchronize(self) -> None:
        """Wait until the device has run every kernel launched on it (nothing to wait for on
        the CPU): what a timer reads after GPU work, whose launches return at once."""
        if self.kind != "cpu":
            self.xp().cuda.Device(self.index).synchronize()

    def __str__(self) -> str:
        return "cpu" if self.kind == "cpu" else f"cuda:{self.index}"

    def __repr__(self) -> str:
        return "Device('cpu')" if self.kind == "cpu" else f"Device('cuda', {self.index})"


CPU = Device("cpu")
_DEVICE: contextvars.ContextVar[Device] = contextvars.ContextVar("graphexec_device", default=CPU)


@contextlib.contextmanager
def device(spec: Any) -> Iterator[Device]:
    """New tensors of the block live on ``spec`` (see the module's docstring); per thread and
    per async task, as the modes are.

    >>> import graphexec as gx
    >>> with gx.device("cpu") as d:
    ...     gx.zeros((2,)).device == d
    True
    """
    dev = Device.parse(spec, "gx.device")
    dev.xp("gx.device")  # NOTE: a missing CuPy or GPU fails here, not at the first op
    token = _DEVICE.set(dev)
    try:
        yield dev
    finally:
        _DEVICE.reset(token)


def current_device() -> Device:
    """The device new tensors get (``gx.device``'s; the CPU outside any block)."""
    return _DEVICE.get()


def device_of(value: Any) -> Device:
    """The device an array lives on: the CPU for numpy data, ``cuda:N`` for a CuPy array."""
    if type(value) is np.ndarray or not hasattr(value, "__cuda_array_interface__"):
        return CPU
    return Device("cuda", int(value.device.id))


def to_device(value: Any, dev: Device, where: str = "to") -> Any:
    """``value`` (an array) on ``dev``: itself when it is there already, else a copy."""
    src = device_of(value)
    if src == dev:
        return value
    if dev.kind == "cpu":
        return value.get()  # a CuPy array's copy on the host
    xp = dev.xp(where)
    with xp.cuda.Device(dev.index):
        return xp.asarray(value)
