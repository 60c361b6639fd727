"""Reading pickled numpy arrays without letting the file run code.

Some published datasets ship as pickles (the package-index MNIST copy, CIFAR-10's Python
batches). `pickle.load` would call whatever a file names; `ArrayOnlyUnpickler` builds
numpy arrays, lists, dicts, tuples, strings, bytes and numbers (which need no global) and
refuses every other global with a DataFileError.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from vaestudio.core.errors import DataFileError


def _allowed_globals() -> dict[tuple[str, str], object]:
    """The only callables a pickle may name: what numpy needs to rebuild an array."""
    try:
        from numpy._core import multiarray
    except ImportError:
        from numpy.core import multiarray
    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = multiarray._reconstruct
        allowed[(module, "scalar")] = multiarray.scalar
    return allowed


class ArrayOnlyUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global except numpy's array reconstruction.

    `what` names the kind of file in the refusal ("an MNIST array file"), `advice` says how to
    get a good copy ("Delete the file and fetch MNIST again.").
    """

    def __init__(self, file: io.BufferedIOBase, source: Path, *, what: str, advice: str,
                 encoding: str = "latin1") -> None:
        super().__init__(file, encoding=encoding)
        self._source = source
        self._what = what
        self._advice = advice
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise DataFileError(
                f"{self._source}: refers to {module}.{name}, which {self._what} never needs; it was not "
                f"loaded because it could run code. {self._advice}"
            ) from None
