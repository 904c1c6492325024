"""The IDX file format of (Fashion-)MNIST, read with every header field checked.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions), one
big-endian ``uint32`` per dimension, then the values in row-major order. The files are often
gzipped (``.gz``).
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "IDX_TYPES"]

#: IDX type code -> numpy dtype (big-endian, as the format stores it)
IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _read_bytes(path: Path) -> bytes:
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as err:   # BadGzipFile is an OSError
        raise ValueError(f"{path} is not a complete gzip file ({err}); download it again, or "
                         "remove the .gz suffix if the file is not compressed") from err


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (optionally gzipped, by its ``.gz`` suffix) into a numpy array.

    Args:
        path: an IDX file, e.g. ``train-images-idx3-ubyte.gz``.

    Returns:
        An array of the header's shape, e.g. ``(60000, 28, 28) uint8`` for images or ``(60000,)``
        for labels, in native byte order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an IDX file (bad magic number or type code), or truncated / too long
            for the shape its header declares, or a broken gzip stream.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
        >>> _ = path.write_bytes(bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 2, 1]))
        >>> read_idx(path)
        array([7, 2, 1], dtype=uint8)
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file: its magic number is {raw[:4].hex() or 'missing'}, "
                         "expected 0000 followed by a type code (08 for uint8) and a dimension count")
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated inside its header ({len(raw)} bytes, the header of "
                         f"a {ndim}-dimensional IDX file has {header})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "longer than its header says"
        raise ValueError(f"{path} is {problem}: its header declares shape {shape} of {dtype.name} "
                         f"({expected} bytes with the header), the file has {len(raw)} bytes; "
                         "download it again")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
