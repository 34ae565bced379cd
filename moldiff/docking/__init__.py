"""Docking: poses of a given ligand in a protein site (diffusion placement, conformer fit,
Vina refinement and ranking), the AutoDock Vina baseline, and experiments from config.

    >>> from moldiff.docking import Docker
    >>> docker = Docker(moldiff.load("pocket"))
    >>> result = docker.dock("P.pdb", "L.sdf", reference="REF.sdf", k=10, seed=0)
    >>> table = screen("P.pdb", "library.smi", "runs/screen", reference="REF.sdf")  # a library
"""
from moldiff.docking.dock import DOCKING_ELEMENTS, Docker, DockingResult, vina_dock, write_poses
from moldiff.docking.pose import symmetric_rmsd
from moldiff.docking.screen import read_library, screen

__all__ = ["DOCKING_ELEMENTS", "Docker", "DockingResult", "read_library", "screen", "symmetric_rmsd", "vina_dock",
           "write_poses"]
