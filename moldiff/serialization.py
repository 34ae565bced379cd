"""Reading ``torch.save`` files without running code from them.

Every file moldiff reads with torch -- model checkpoints, exported models, the QM9,
complex and drug-like caches -- goes through :func:`load_tensors`: PyTorch's
``weights_only`` unpickler, which builds tensors and plain containers (dict, list,
tuple, str, numbers) and refuses any other object. A crafted file whose unpickling
would import a module or call a function is reported, never executed. moldiff writes
only such plain data, so nothing it saves needs more.
"""
from __future__ import annotations

import pickle
import warnings
from pathlib import Path

from moldiff.errors import InputError


class UnsafeFileError(InputError):
    """The file asks the unpickler for objects beyond tensors and plain data (it may run code)."""


def load_tensors(path: str | Path, what: str = "file"):
    """``torch.load(path, weights_only=True)`` on the CPU, with one-line errors.

    Raises:
        UnsafeFileError: the pickle names a global (a class or function) outside the
            allowed set -- a crafted or foreign file; nothing from it was run.
        InputError: missing, truncated or not a torch file.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such {what}")
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error below says what matters
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "GLOBAL" in str(exc):
            raise UnsafeFileError(f"{path}: refused to load this {what}: it asks for Python objects other than "
                                  "tensors and plain data (loading it could run code; moldiff never writes such "
                                  "files)") from None
        raise InputError(f"{path}: not a readable {what} (not a PyTorch file, or damaged)") from None
    except Exception as exc:  # truncated zip, not a torch file, ...
        raise InputError(f"{path}: not a readable {what} ({type(exc).__name__}; truncated or damaged?)") from None


def save_tensors(obj, path: str | Path) -> Path:
    """``torch.save`` of plain data (tensors, containers, strings, numbers) to ``path``,
    atomically (:func:`~moldiff.paths.atomic_path`), its folder created; the file
    :func:`load_tensors` reads back."""
    import torch

    from moldiff.paths import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path
