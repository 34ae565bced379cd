"""AutoDock Vina itself, for one receptor: scoring, local optimisation and docking of RDKit
ligands (:class:`VinaScorer`), and whether the ``eval`` extra that provides it is installed."""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
from rdkit import Chem

from moldiff.checks import derived_seed
from moldiff.errors import InputError
from moldiff.vina.prepare import _pdbqt_types, ligand_pdbqt, pdbqt_poses, receptor_pdbqt

log = logging.getLogger(__name__)

def vina_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("vina", "meeko", "gemmi"))


# --- everything together -----------------------------------------------------------------------


class VinaScorer:
    """Vina in one pocket: scores, local optimisation and docking (receptor prepared once,
    grid maps computed once for all the ligands' atom types).

    Args:
        protein_file: the protein. pocket_residues: ``(chain, resseq, icode)`` tuples.
        center: box centre (Å). ligands: molecules whose extent (plus ``margin``) sets the
            box, unless ``size`` (Å, a number or three) is given. seed: the seed of Vina's
            Monte Carlo search (:func:`~moldiff.checks.derived_seed`: 0 is passed as 2^31 - 1,
            since Vina draws a random seed for 0).
    """

    def __init__(self, protein_file, pocket_residues, center, ligands=(), *, size=None, margin: float = 5.0,
                 seed: int = 0):
        self.receptor = receptor_pdbqt(protein_file, pocket_residues)
        center = np.asarray(center, dtype=float)
        if size is None:
            coords = (np.concatenate([m.GetConformer().GetPositions() for m in ligands]) if len(ligands)
                      else center[None])
            half = np.maximum(np.abs(coords - center).max(0) + margin, 10.0)
            size = np.minimum(2 * half, 30.0)  # Vina's advised 27,000 Å^3
        self.center, self.size = center, np.broadcast_to(np.asarray(size, dtype=float), (3,)).copy()
        self.seed = derived_seed(seed, nonzero=True)  # Vina's seed 0 means "random"
        self._texts: dict[int, tuple[Chem.Mol, str | None]] = {}  # id -> (mol kept alive, PDBQT)
        self._mapped: set[str] = set()  # Vina atom types with grid maps
        self._cover: list[str] = []  # the ligands the maps were computed for
        self.vina = self._new_vina()

    def _new_vina(self):
        from vina import Vina

        vina = Vina(sf_name="vina", cpu=1, seed=self.seed, verbosity=0)
        with tempfile.NamedTemporaryFile("w", suffix=".pdbqt", delete=False) as fh:
            fh.write(self.receptor)
        try:
            vina.set_receptor(fh.name)
        finally:
            os.unlink(fh.name)
        return vina

    def pdbqt(self, mol: Chem.Mol) -> str | None:
        """The ligand's PDBQT (meeko), prepared once per molecule object."""
        if id(mol) not in self._texts:
            self._texts[id(mol)] = (mol, ligand_pdbqt(mol))
        return self._texts[id(mol)][1]

    def prepare_maps(self, mols) -> None:
        """Compute the grid maps for the atom types of all ``mols``: Vina computes maps only
        for the ligands it holds, and scoring an atom type without a map aborts the process.
        Calling it again with new types recomputes the maps for all types seen so far."""
        texts = [t for t in (self.pdbqt(m) for m in mols) if t is not None]
        cover, seen = list(self._cover), set(self._mapped)
        for text in texts:  # Vina holds the given ligands at once (memory grows fast): a few that cover every type
            types = _pdbqt_types(text)
            if not types <= seen:
                cover.append(text)
                seen |= types
        if len(cover) > len(self._cover):
            if self._cover:  # Vina does not add maps to computed ones: start again with all the types
                self.vina = self._new_vina()
            self.vina.set_ligand_from_string(cover)
            # even voxel counts: Vina can then write the maps (moldiff.docking.search reads them)
            self.vina.compute_vina_maps(center=self.center.tolist(), box_size=self.size.tolist(),
                                        force_even_voxels=True)
            self._cover, self._mapped = cover, seen

    def _set(self, mol: Chem.Mol) -> bool:
        text = self.pdbqt(mol)
        if text is None or not _pdbqt_types(text) <= self._mapped:
            log.debug("ligand not prepared for Vina (unparametrised or not given to prepare_maps)")
            return False
        self.vina.set_ligand_from_string(text)
        return True

    def score(self, mol: Chem.Mol, *, minimise: bool = True) -> tuple[float, float]:
        """(score as given, score after local optimisation), kcal/mol; NaN if not scorable
        (the second also when ``minimise`` is off: badly clashing poses take long to optimise)."""
        if minimise:
            score, minimised, _ = self.optimize(mol)
            return score, minimised
        if not self._set(mol):
            return float("nan"), float("nan")
        try:
            return float(self.vina.score()[0]), float("nan")
        except (RuntimeError, TypeError, ValueError) as exc:
            log.debug("vina failed: %s", exc)
            return float("nan"), float("nan")

    def optimize(self, mol: Chem.Mol) -> tuple[float, float, Chem.Mol | None]:
        """Vina's local optimisation of a pose (position, orientation, torsions): returns
        (score as given, score after, the optimised pose as read back from PDBQT with
        meeko, hydrogens included; None if it failed). NaN scores if not scorable, e.g.
        the ligand is outside the box."""
        if not self._set(mol):
            return float("nan"), float("nan"), None
        try:
            before = float(self.vina.score()[0])
            after = float(self.vina.optimize()[0])
        except (RuntimeError, TypeError, ValueError) as exc:
            log.debug("vina failed: %s", exc)
            return float("nan"), float("nan"), None
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "pose.pdbqt"
            self.vina.write_pose(str(path), overwrite=True)
            poses = pdbqt_poses(path.read_text())
        return before, after, poses[0] if poses else None

    def dock(self, mol: Chem.Mol, *, exhaustiveness: int = 8, n_poses: int = 10) -> list[tuple[float, Chem.Mol]]:
        """Vina's global search from ``mol``'s conformer: ``(score, pose)`` best first."""
        if not self._set(mol):
            raise InputError("Vina could not prepare this ligand (meeko found no parameters for it)")
        self.vina.dock(exhaustiveness=exhaustiveness, n_poses=n_poses)
        # no energy window: K poses where Vina's search found K distinct ones (min. 1 Å apart)
        energies = self.vina.energies(n_poses=n_poses, energy_range=1e6)[:, 0]
        poses = pdbqt_poses(self.vina.poses(n_poses=n_poses, energy_range=1e6))
        return list(zip(energies.tolist(), poses))
