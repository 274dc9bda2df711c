"""safetensors files: named arrays, written and read without pickle.

The format (huggingface's safetensors): 8 bytes of header length (little-endian), a JSON
header naming each tensor's dtype, shape and byte range, then the raw little-endian data.  The
reader trusts nothing: the header's size is bounded by the file's, every range must lie inside
the data and fit its dtype and shape, ranges may not overlap and must cover the data, and no
array is made larger than the bytes that hold it.  Complex arrays (which safetensors has no
dtype for) are stored as their float pairs, named in the metadata.

>>> import numpy as np
>>> from graphexec import weights
>>> data = weights.dumps({"w": np.eye(2, dtype="float32")}, {"step": "3"})
>>> tensors, meta = weights.loads(data)
>>> tensors["w"], meta
(array([[1., 0.],
       [0., 1.]], dtype=float32), {'step': '3'})
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import struct
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import FormatError, InvalidArgumentError

__all__ = ["dumps", "loads", "save_file", "load_file", "MAX_HEADER_BYTES"]

#: the largest header read (safetensors' own limit): a bigger length is a corrupt file
MAX_HEADER_BYTES = 100_000_000
#: the most dims a tensor may have (numpy's limit)
MAX_DIMS = 64
_CODES = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "U16": "uint16", "I16": "int16",
          "F16": "float16", "U32": "uint32", "I32": "int32", "F32": "float32", "U64": "uint64",
          "I64": "int64", "F64": "float64"}
_DTYPES = {np.dtype(v): k for k, v in _CODES.items()}
#: the metadata key listing the complex arrays (stored as float pairs): name -> numpy dtype
_COMPLEX_KEY = "graphexec.complex"
#: the metadata key of the file's CRC-32, which graphexec writes and checks (other writers'
#: files have none): a flipped bit is an error, not silently different weights or graphs
_CRC_KEY = "graphexec.crc32"


def dumps(tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> bytes:
    """The safetensors bytes of ``tensors`` (name -> array) and string ``metadata``.

    >>> from graphexec import weights
    >>> len(weights.dumps({"b": [1, 2]}))
    128
    """
    meta = dict(metadata or {})
    for k, v in meta.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise InvalidArgumentError(f"safetensors: metadata must map strings to strings, "
                                       f"got {k!r}: {type(v).__name__}")
        if k in (_COMPLEX_KEY, _CRC_KEY):
            raise InvalidArgumentError(f"safetensors: metadata key {k!r} is graphexec's own")
    header: dict[str, Any] = {}
    chunks: list[bytes] = []
    complex_names: dict[str, str] = {}
    offset = 0
    for name in tensors:  # NOTE: in the given order, so files are reproducible
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise InvalidArgumentError(f"safetensors: tensor name {name!r} is not allowed")
        arr = np.asarray(tensors[name])
        if arr.dtype.kind == "c":
            complex_names[name] = arr.dtype.name
            arr = arr.astype(arr.dtype.newbyteorder("="), copy=False)  # NOTE: native first
            floats = np.dtype(f"f{arr.dtype.itemsize // 2}")
            arr = np.ascontiguousarray(arr).reshape(-1).view(floats).reshape(*arr.shape, 2)
        code = _DTYPES.get(arr.dtype.newbyteorder("="))
        if code is None:
            raise InvalidArgumentError(f"safetensors: tensor {name!r} has dtype {arr.dtype}, "
                                       "which safetensors cannot hold")
        raw = np.ascontiguousarray(arr, arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if complex_names:
        meta[_COMPLEX_KEY] = json.dumps(complex_names, sort_keys=True)
    body = b"".join(chunks)
    header = {"__metadata__": meta, **header}
    meta[_CRC_KEY] = _crc(header, body)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # NOTE: the data starts 8-byte aligned
    return struct.pack("<Q", len(text)) + text + body


def loads(data: bytes | bytearray | memoryview, checksum: bool = False
          ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The arrays (read-only views of ``data``) and metadata of safetensors bytes; a
    FormatError names what is wrong with bytes that are not a well-formed file.  graphexec's
    own files carry a checksum, which is checked; with ``checksum`` a file without one is
    refused too (graphexec's graph files and checkpoints are read so).

    >>> from graphexec import weights
    >>> weights.loads(weights.dumps({"b": [1, 2]})[:-1])
    Traceback (most recent call last):
        ...
    graphexec.errors.FormatError: safetensors: tensor 'b' ends at byte 16 of a data part of 15 bytes
    """
    buf = memoryview(data).cast("B")
    if len(buf) < 8:
        raise FormatError(f"safetensors: {len(buf)} bytes are too few to hold a header length")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > min(MAX_HEADER_BYTES, len(buf) - 8):
        raise FormatError(f"safetensors: the header says it is {n} bytes long, and the file "
                          f"holds {len(buf) - 8} bytes after the length (the limit is "
                          f"{MAX_HEADER_BYTES})")
    header = _header(bytes(buf[8:8 + n]))
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                             for k, v in meta.items()):
        raise FormatError("safetensors: __metadata__ must map strings to strings")
    body = buf[8 + n:]
    crc = meta.pop(_CRC_KEY, None)
    if crc is None and checksum:
        raise FormatError("safetensors: the file has no graphexec checksum: it is corrupt, or "
                          "was not written by graphexec")
    spans = []
    out: dict[str, np.ndarray] = {}
    for name, entry in header.items():
        dtype, shape, begin, end = _entry(name, entry, len(body))
        spans.append((begin, end, name))
        try:  # NOTE: an empty tensor may still name a shape numpy cannot make
            arr = np.frombuffer(body[begin:end], dtype.newbyteorder("<")).reshape(shape)
        except ValueError as e:
            raise FormatError(f"safetensors: tensor {name!r} of shape {shape}: {e}") from None
        if dtype.kind == "b" and arr.size and arr.view(np.uint8).max() > 1:
            raise FormatError(f"safetensors: bool tensor {name!r} holds bytes other than 0 "
                              "and 1")
        out[name] = arr.astype(dtype, copy=False) if not arr.dtype.isnative else arr
    spans.sort()
    at = 0
    for begin, end, name in spans:
        if begin != at:
            what = ("overlaps the one before it" if begin < at
                    else f"leaves bytes {at}-{begin} unused")
            raise FormatError(f"safetensors: tensor {name!r} {what}")
        at = end
    if at != len(body):
        raise FormatError(f"safetensors: {len(body) - at} bytes after the last tensor")
    if crc is not None:
        want = _crc({"__metadata__": meta, **header}, body)
        if crc != want:
            raise FormatError(f"safetensors: the file's checksum is {want}, its header says "
                              f"{crc[:8]}: the file is corrupt")
    return _complex(out, meta), meta


def _crc(header: dict[str, Any], body: bytes | memoryview) -> str:
    """The CRC-32 of the header (without the checksum itself, in one canonical form) and the
    data: a flipped bit anywhere but in the padding is caught."""
    canonical = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    return f"{zlib.crc32(body, zlib.crc32(canonical)):08x}"


def _header(text: bytes) -> dict[str, Any]:
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise FormatError(f"safetensors: the header is not JSON ({type(e).__name__}: "
                          f"{str(e)[:200]})") from None
    if not isinstance(header, dict):
        raise FormatError(f"safetensors: the header is a JSON {type(header).__name__}, not an "
                          "object")
    return header


def _entry(name: str, entry: Any, size: int) -> tuple[np.dtype, tuple[int, ...], int, int]:
    """One header entry checked against the data part's ``size``: dtype, shape, byte range."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise FormatError(f"safetensors: tensor {name!r}: its entry must hold exactly dtype, "
                          f"shape and data_offsets, got {str(entry)[:200]}")
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if code not in _CODES:
        raise FormatError(f"safetensors: tensor {name!r} has dtype {str(code)[:40]!r}, which "
                          f"graphexec does not read (it reads {', '.join(_CODES)})")
    if (not isinstance(shape, list) or len(shape) > MAX_DIMS
            or not all(_is_int(d) and 0 <= d < 2**62 for d in shape)):
        raise FormatError(f"safetensors: tensor {name!r} has shape {str(shape)[:200]}, not a "
                          f"list of at most {MAX_DIMS} sizes")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(_is_int(o) and o >= 0 for o in offsets) or offsets[0] > offsets[1]):
        raise FormatError(f"safetensors: tensor {name!r} has data_offsets "
                          f"{str(offsets)[:200]}, not [begin, end]")
    dtype = np.dtype(_CODES[code])
    begin, end = offsets
    if end > size:
        raise FormatError(f"safetensors: tensor {name!r} ends at byte {end} of a data part of "
                          f"{size} bytes")
    want = math.prod(shape) * dtype.itemsize  # NOTE: Python ints: no overflow
    if want != end - begin:
        raise FormatError(f"safetensors: tensor {name!r} is {code}{shape} ({want} bytes), but "
                          f"its range holds {end - begin} bytes")
    return dtype, tuple(shape), begin, end


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _complex(out: dict[str, np.ndarray], meta: dict[str, str]) -> dict[str, np.ndarray]:
    """The arrays named in the metadata as complex, viewed back from their float pairs."""
    listed = meta.pop(_COMPLEX_KEY, None)
    if listed is None:
        return out
    try:
        names = json.loads(listed)
        assert isinstance(names, dict)
    except (ValueError, AssertionError, RecursionError):
        raise FormatError(f"safetensors: {_COMPLEX_KEY} in the metadata is not a JSON "
                          "object") from None
    for name, dtype in names.items():
        if not isinstance(dtype, str):
            raise FormatError(f"safetensors: {_COMPLEX_KEY} lists {str(name)[:40]!r} as "
                              f"{str(dtype)[:40]}, not a dtype name")
        arr = out.get(name)
        want = {"complex64": np.float32, "complex128": np.float64}.get(dtype)
        if arr is None or want is None or arr.dtype != want or arr.shape[-1:] != (2,):
            raise FormatError(f"safetensors: {name!r} is listed as {str(dtype)[:40]}, and "
                              "is not its float pairs")
        out[name] = arr.view(np.dtype(dtype))[..., 0]
    return out


def save_file(tensors: Mapping[str, Any], path: str | os.PathLike[str],
              metadata: Mapping[str, str] | None = None) -> None:
    """Write ``tensors`` and ``metadata`` to the safetensors file ``path``.  The file is
    replaced whole (written beside it, then renamed), so a failed save leaves the old one.

    >>> import numpy as np, pathlib, tempfile
    >>> from graphexec import weights
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.safetensors"
    >>> weights.save_file({"w": np.arange(3.0)}, path)
    >>> weights.load_file(path)[0]["w"]
    array([0., 1., 2.])
    """
    data = dumps(tensors, metadata)
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_file(path: str | os.PathLike[str], checksum: bool = False
              ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The arrays and metadata of the safetensors file ``path`` (see ``loads``)."""
    try:
        data = pathlib.Path(path).read_bytes()
    except OSError as e:
        raise FormatError(f"safetensors: cannot read {path}: {e.strerror or e}") from None
    try:
        return loads(data, checksum)
    except FormatError as e:
        raise FormatError(f"{path}: {e}") from None
