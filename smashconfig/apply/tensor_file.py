"""``model.safetensors`` read in one pass into fresh tensors, every header value checked first.

The header (names, dtypes, shapes, offsets) is parsed and checked before any tensor is
allocated; then each tensor's bytes are read straight into a new ``torch.empty`` allocation —
aligned and owning its storage, exactly as a tensor the model computed itself — while the
file's SHA-256 is computed on the way. No memory map, no second read, no second copy.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Dict, Tuple

from smashconfig.errors import SavedModelError

if TYPE_CHECKING:
    import hashlib

    import torch

MAX_HEADER = 100 * 2**20
"""The largest header safetensors itself accepts."""

DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of the file as its header describes it."""

    dtype: "torch.dtype"
    shape: Tuple[int, ...]
    start: int
    end: int


@dataclass(frozen=True)
class TensorHeader:
    """The checked header: entries by name, in the order their bytes follow each other."""

    path: Path
    raw: bytes
    """The length prefix and the JSON header, as read (they count in the file's checksum)."""
    entries: Dict[str, TensorEntry]


def read_header(handle: IO[bytes], path: Path, size: int) -> TensorHeader:
    """Parse and check the header of an open safetensors file of ``size`` bytes."""
    prefix = handle.read(8)
    if len(prefix) < 8:
        raise _bad(path, "it is shorter than a safetensors header")
    (length,) = struct.unpack("<Q", prefix)
    if length > MAX_HEADER or 8 + length > size:
        raise _bad(path, f"its header claims {length} bytes; the file holds {size}")
    text = handle.read(length)
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _bad(path, "its header is not JSON") from None
    if not isinstance(header, dict):
        raise _bad(path, f"its header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _bad(path, "its __metadata__ is not a mapping of strings")
    entries = {name: _entry(path, name, value) for name, value in header.items()}
    _check_layout(path, entries, size - 8 - length)
    ordered = dict(sorted(entries.items(), key=lambda item: item[1].start))
    return TensorHeader(path=path, raw=prefix + text, entries=ordered)


def read_tensors(handle: IO[bytes], header: TensorHeader, digest: "hashlib._Hash") -> Dict[str, "torch.Tensor"]:
    """Read every tensor's bytes into a fresh allocation, in file order, feeding ``digest`` on the way.

    ``handle`` stands just after the header (where :func:`read_header` left it).
    """
    import torch

    digest.update(header.raw)
    tensors: Dict[str, "torch.Tensor"] = {}
    for name, entry in header.entries.items():
        flat = torch.empty(entry.end - entry.start, dtype=torch.uint8)
        if flat.numel():
            view = memoryview(flat.numpy())
            _read_exactly(handle, view, header.path, name)
            digest.update(view)
        tensors[name] = flat.view(entry.dtype).reshape(entry.shape)
    if handle.read(1):
        raise _bad(header.path, "it holds bytes after its last tensor")
    return tensors


def _read_exactly(handle: IO[bytes], view: memoryview, path: Path, name: str) -> None:
    done = 0
    while done < len(view):
        got = handle.readinto(view[done:])
        if not got:
            raise _bad(path, f"it ends inside tensor {name!r}")
        done += got


def _entry(path: Path, name: str, value: Any) -> TensorEntry:
    import torch

    if not isinstance(value, dict) or set(value) != {"dtype", "shape", "data_offsets"}:
        raise _bad(path, f"tensor {name!r} is not described by dtype, shape and data_offsets")
    dtype, shape, offsets = value["dtype"], value["shape"], value["data_offsets"]
    if dtype not in DTYPES:
        raise _bad(path, f"tensor {name!r} has dtype {str(dtype)[:20]!r}; allowed: {', '.join(DTYPES)}")
    if not isinstance(shape, list) or not all(_natural(n) for n in shape):
        raise _bad(path, f"tensor {name!r} has shape {str(shape)[:40]}, not a list of sizes")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_natural(n) for n in offsets)):
        raise _bad(path, f"tensor {name!r} has data_offsets {str(offsets)[:40]}, not [start, end]")
    torch_dtype = getattr(torch, DTYPES[dtype])
    start, end = offsets
    expected = math.prod(shape) * torch_dtype.itemsize
    if end - start != expected:
        raise _bad(path, f"tensor {name!r} spans {end - start} bytes; its shape {shape} and dtype {dtype} need {expected}")
    return TensorEntry(dtype=torch_dtype, shape=tuple(shape), start=start, end=end)


def _check_layout(path: Path, entries: Dict[str, TensorEntry], data_size: int) -> None:
    """The tensors' bytes follow each other without gap or overlap and fill the rest of the file."""
    position = 0
    for name, entry in sorted(entries.items(), key=lambda item: (item[1].start, item[1].end)):
        if entry.start != position:
            raise _bad(path, f"tensor {name!r} starts at byte {entry.start}, not {position} (a gap or an overlap)")
        position = entry.end
    if position != data_size:
        raise _bad(path, f"its tensors span {position} bytes of data; the file holds {data_size}")


def _natural(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _bad(path: Path, reason: str) -> SavedModelError:
    return SavedModelError(f"{path} is not a valid safetensors file: {reason}.")
