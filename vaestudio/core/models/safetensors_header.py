"""Reading a safetensors file without trusting it: the header is checked before any tensor is read.

A safetensors file is an 8-byte little-endian header length, a JSON header (each tensor's
dtype, shape and byte range, and a `__metadata__` table of strings) and the tensor bytes. A
hostile file can claim a header of gigabytes, nest its JSON thousands deep, or give byte ranges
that overlap, leave gaps or point past the end. Here the claimed sizes are compared with the
file's real size and with fixed limits before anything is allocated from them, and every
entry is checked, so that only a file whose header is sound reaches the safetensors library.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from pathlib import Path

from vaestudio.core.errors import ConfigError

MAX_HEADER_BYTES = 64 * 2**20  # the JSON header; a model's history of 100,000 epochs fits in a few MB
MAX_JSON_DEPTH = 32            # our own headers and metadata nest 4 deep at most
MAX_TENSORS = 100_000
MAX_DIMENSIONS = 8
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
               "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
PICKLE_START = b"\x80"  # a pickle's PROTO opcode (protocol 2 and later)


class HeaderError(ConfigError):
    """The safetensors header is not sound (the reason, without the file's name)."""


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def check_json_depth(text: bytes | str, what: str) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH before parsing it (json would recurse on it)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    depth = 0
    for bracket in _BRACKETS.findall(_STRING.sub(b"", data)):
        depth += 1 if bracket in b"[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise HeaderError(f"{what} is JSON nested more than {MAX_JSON_DEPTH} levels deep")


def parse_json(text: bytes | str, what: str):
    """`text` parsed as JSON, depth-checked first; `HeaderError` if it is not JSON."""
    check_json_depth(text, what)
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise HeaderError(f"{what} is not valid JSON ({error})") from None


def read_checked(path: Path) -> tuple[bytes, dict[str, dict], dict[str, str]]:
    """The whole file, its tensor table and its metadata, once the header has been checked.

    Raises `HeaderError` (the reason) for a file that is not a sound safetensors file, and
    `OSError` when the file cannot be read.
    """
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise HeaderError(f"it is only {len(prefix)} bytes long")
        header_length = struct.unpack("<Q", prefix)[0]
        if header_length > size - 8 and prefix.startswith((PICKLE_START, b"PK")):
            raise HeaderError("it is a Python pickle or a torch.save archive, not a safetensors file "
                              "(VAE Studio never unpickles a file, which could run code)")
        if header_length > size - 8:
            raise HeaderError(f"no safetensors header (its first bytes claim a header of {header_length:,} bytes; "
                              f"the file has {size:,})")
        if header_length > MAX_HEADER_BYTES:
            raise HeaderError(f"its header claims {header_length:,} bytes; at most {MAX_HEADER_BYTES:,} are allowed")
        header_bytes = handle.read(header_length)
        if not header_bytes.lstrip(b" ").startswith(b"{"):
            raise HeaderError("no safetensors header")
        header = parse_json(header_bytes, "its header")
        if not isinstance(header, dict):
            raise HeaderError("its header is not a JSON object")
        metadata = _check_metadata(header.pop("__metadata__", None) or {})
        table = _check_table(header, size - 8 - header_length)
        handle.seek(0)
        data = handle.read()
    if len(data) != size:
        raise HeaderError("the file changed while it was read")
    return data, table, metadata


def _check_metadata(metadata) -> dict[str, str]:
    if not isinstance(metadata, dict) or not all(isinstance(key, str) and isinstance(value, str)
                                                 for key, value in metadata.items()):
        raise HeaderError("its metadata is not a table of strings")
    return metadata


def _check_table(header: dict, data_bytes: int) -> dict[str, dict]:
    """Each entry's dtype, shape and byte range; the ranges must tile the data area exactly."""
    if len(header) > MAX_TENSORS:
        raise HeaderError(f"it lists {len(header):,} tensors; at most {MAX_TENSORS:,} are allowed")
    ranges = []
    for name, entry in header.items():
        if not isinstance(entry, dict):
            raise HeaderError(f"tensor {name[:80]!r} has no description")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in DTYPE_BYTES:
            raise HeaderError(f"tensor {name[:80]!r} has an unknown dtype {dtype!r:.40}")
        if (not isinstance(shape, list) or len(shape) > MAX_DIMENSIONS
                or not all(type(n) is int and 0 <= n < 2**40 for n in shape)):
            raise HeaderError(f"tensor {name[:80]!r} has an invalid shape {shape!r:.80}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(type(n) is int and 0 <= n <= data_bytes for n in offsets) or offsets[0] > offsets[1]):
            raise HeaderError(f"tensor {name[:80]!r} has byte offsets {offsets!r:.80} outside the file's "
                              f"{data_bytes:,} bytes of data (is it cut short?)")
        if offsets[1] - offsets[0] != math.prod(shape) * DTYPE_BYTES[dtype]:
            raise HeaderError(f"tensor {name[:80]!r} of shape {shape} does not fill its {offsets[1] - offsets[0]:,} bytes")
        ranges.append((offsets[0], offsets[1], name))
    end = 0
    for begin, stop, name in sorted(ranges):
        if begin != end:
            raise HeaderError(f"tensor {name[:80]!r} {'overlaps another' if begin < end else 'leaves a gap before it'}")
        end = stop
    if end != data_bytes:
        raise HeaderError(f"its tensors cover {end:,} of the file's {data_bytes:,} bytes of data")
    return header
