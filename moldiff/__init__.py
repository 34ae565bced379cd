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


def design(protein, *, model="pocket_design", device="cpu", **kwargs):
    """Design ligands for a protein pocket with the shipped design model (``pocket_design``;
    or ``model``: a name such as ``"pocket"``, the docking model, or a checkpoint path). Keyword arguments as :meth:`moldiff.api.PocketModel.design`:
    ``ligand=`` / ``center=`` / ``box=``, ``n``, ``num_atoms``, ``steps``, ``seed`` ...; ``fixed=``
    a fragment (file or RDKit molecule, protein frame) every design keeps exactly, or a list of
    two to link (:func:`moldiff.ligand_design.generate`).
    Returns RDKit molecules with hydrogens in the protein's frame (``None``: not assembled)."""
    from moldiff.api import PocketModel, load as _load

    loaded = model if isinstance(model, PocketModel) else _load(model, device=device)
    if not isinstance(loaded, PocketModel):
        raise InputError(f"{model}: not a pocket model (it generates free molecules); use moldiff.load(...).sample")
    return loaded.design(protein, **kwargs)


__all__.append("design")
