"""moldiff: E(3)-equivariant diffusion models for 3D molecular structure.

Nothing is computed or written at import time; heavy submodules (torch, RDKit,
Lightning) are imported by the modules that need them.
"""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("moldiff")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

from moldiff.errors import MoldiffError, InputError

__all__ = ["__version__", "MoldiffError", "InputError"]


def load(path=None, device="cpu"):
    """Load a trained moldiff model: the shipped QM9 model by default, or a checkpoint
    (see :func:`moldiff.api.load`)."""
    from moldiff.api import load as _load

    return _load(path, device=device)


__all__.append("load")
