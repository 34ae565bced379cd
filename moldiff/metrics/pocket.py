"""Ligands in a pocket: validity, connectivity, diversity, drug-likeness, clashes, PoseBusters, Vina.

:func:`evaluate_in_pocket` is what ``moldiff evaluate --protein`` and
``benchmarks/design_posebusters.py`` report. Optional parts need the ``eval`` extra
(``pip install 'moldiff[eval]'``: posebusters, vina, meeko, gemmi) and are skipped with a
note when it is missing.

Vina: the receptor is the pocket's amino-acid residues (hydrogens added from meeko's
residue templates; cofactors, ions and waters are not part of it), the box is centred on
the site and encloses every ligand plus 5 Å (at most 30 Å a side). Each ligand is scored as given (``vina``)
and after Vina's local optimisation in the pocket (``vina_min``), kcal/mol.
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem import rdFingerprintGenerator

from moldiff.checks import derived_seed
from moldiff.errors import InputError
from moldiff.timebound import DEFAULT_SECONDS, TIMED_OUT, map_bounded

log = logging.getLogger(__name__)

#: PoseBusters' intramolecular ("mol") checks that judge a generated ligand on its own
POSEBUSTERS_CONFIG = "mol"


def is_valid(mol: Chem.Mol | None) -> bool:
    """RDKit can sanitise a copy of ``mol``."""
    return sanitized(mol) is not None


def sanitized(mol: Chem.Mol | None) -> Chem.Mol | None:
    """A sanitised copy of ``mol`` (ring info, aromaticity: what meeko and PoseBusters need; an
    SDF read unsanitised has none), or ``None`` where RDKit refuses it."""
    if mol is None:
        return None
    copy = Chem.Mol(mol)
    try:
        with rdBase.BlockLogs():
            Chem.SanitizeMol(copy)
    except (ValueError, RuntimeError):
        return None
    return copy


def is_connected(mol: Chem.Mol) -> bool:
    return len(Chem.GetMolFrags(mol)) == 1


def diversity(mols: list[Chem.Mol]) -> float:
    """Mean pairwise 1 − Tanimoto similarity of Morgan fingerprints (radius 2, 2048 bits)."""
    if len(mols) < 2:
        return float("nan")
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fps = [gen.GetFingerprint(Chem.RemoveHs(m)) for m in mols]
    dists = [1 - s for k in range(1, len(fps)) for s in DataStructs.BulkTanimotoSimilarity(fps[k], fps[:k])]
    return float(np.mean(dists))


def _vdw(symbols) -> np.ndarray:
    table = Chem.GetPeriodicTable()
    return np.array([table.GetRvdw(s) for s in symbols])


def clash_report(mol: Chem.Mol, pocket, *, cutoff: float = 2.0, vdw_scale: float = 0.75) -> dict:
    """Steric clashes of a ligand's heavy atoms with the pocket's heavy atoms.

    Returns ``min_distance`` (Å), ``clash`` (any pair closer than ``cutoff`` Å) and
    ``clash_vdw`` (any pair closer than ``vdw_scale`` × the sum of van der Waals radii,
    PoseBusters' inter-molecular criterion).
    """
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    lig = mol.GetConformer().GetPositions()[heavy]
    keep = np.asarray(pocket.element) != "H"
    prot, prot_el = pocket.pos[keep], np.asarray(pocket.element)[keep]
    d = np.sqrt(((lig[:, None] - prot[None]) ** 2).sum(-1))
    lig_el = [mol.GetAtomWithIdx(k).GetSymbol() for k in heavy]
    prot_vdw = np.array([Chem.GetPeriodicTable().GetRvdw(e) if e.isalpha() and len(e) <= 2 else 1.7 for e in
                         (x.capitalize() for x in prot_el)])
    limit = vdw_scale * (_vdw(lig_el)[:, None] + prot_vdw[None])
    return {"min_distance": float(d.min()), "clash": bool((d < cutoff).any()), "clash_vdw": bool((d < limit).any())}


def posebusters_mol_checks(mols: list[Chem.Mol], *, energy: bool = True, seconds: float | None = DEFAULT_SECONDS,
                           progress: bool = False) -> list | None:
    """Per molecule: passes every PoseBusters intramolecular check (None: posebusters missing);
    :data:`~moldiff.timebound.TIMED_OUT` (falsy) where the checks took over ``seconds``.

    ``energy=False`` leaves out the internal-energy check (PoseBusters' ``mol_fast``): it
    embeds 50 conformers per molecule, which takes minutes for some strained generated ones.
    """
    if not mols:
        return []
    return _bust(POSEBUSTERS_CONFIG if energy else f"{POSEBUSTERS_CONFIG}_fast", mols, seconds=seconds,
                 progress=progress)


def posebusters_dock_checks(poses: list[Chem.Mol], protein_file: str | Path, *,
                            seconds: float | None = DEFAULT_SECONDS, progress: bool = False) -> list | None:
    """Per pose: passes every check of PoseBusters' ``dock`` configuration (chemistry,
    geometry, internal energy, distances to and volume overlap with the protein);
    :data:`~moldiff.timebound.TIMED_OUT` where the checks took over ``seconds``."""
    if not poses:
        return []
    return _bust("dock", poses, mol_cond=str(protein_file), seconds=seconds, progress=progress)


def _bust(config: str, mols: list[Chem.Mol], mol_cond=None, *, seconds: float | None = DEFAULT_SECONDS,
          progress: bool = False) -> list | None:
    """PoseBusters ``config`` on each molecule in a time-bounded worker (:func:`map_bounded`)."""
    try:
        from posebusters import PoseBusters
    except ImportError:
        log.warning("posebusters is not installed (pip install 'moldiff[eval]'); PoseBusters checks skipped")
        return None
    import sys

    import rdkit
    from rdkit import RDLogger

    from moldiff.progress import Progress

    # posebusters points RDKit's Python log handler at the sys.stderr of its last call; if that
    # stream has since been closed (a notebook cell's or a test's captured stderr), every check that
    # logs fails with "I/O operation on closed file" -- point it at the current stderr first
    if hasattr(rdkit, "log_handler"):
        rdkit.log_handler.stream = sys.stderr  # not setStream: it flushes the old (closed) stream
    quiet = [logging.getLogger(name) for name in ("posebusters", "")]
    levels = [lg.level for lg in quiet]
    RDLogger.DisableLog("rdApp.*")  # UFF typing notes for every molecule with a charged atom
    buster = PoseBusters(config=config)

    def one(mol) -> bool:
        table = buster.bust([mol], mol_cond=mol_cond, full_report=False)
        return bool(table.select_dtypes(include="bool").iloc[0].all())

    try:
        for lg in quiet:
            lg.setLevel(logging.ERROR)
        with Progress(len(mols), "PoseBusters", "mol", enabled=progress) as bar:
            return map_bounded(one, mols, seconds=seconds, progress=bar.update)
    finally:
        RDLogger.EnableLog("rdApp.error")
        for lg, level in zip(quiet, levels):
            lg.setLevel(level)


# --- Vina ---------------------------------------------------------------------------------
#: AutoDock atom types of cofactor / ion heavy atoms by element (typed by element only:
#: enough for Vina's steric and hydrophobic terms; H-bond donors among them are not marked)
COFACTOR_TYPES = {"C": "C", "N": "N", "O": "OA", "S": "SA", "P": "P", "F": "F", "CL": "Cl", "BR": "Br", "I": "I",
                  "ZN": "Zn", "FE": "Fe", "MG": "Mg", "MN": "Mn", "CA": "Ca"}


def receptor_pdbqt(protein_file: str | Path, pocket_residues) -> str:
    """PDBQT text of the pocket: standard amino-acid residues with polar hydrogens (meeko's
    templates), plus the heavy atoms of cofactors and ions in the pocket typed by element
    (:data:`COFACTOR_TYPES`; meeko has no offline templates for them), so poses cannot
    be placed into a cofactor or metal site. Waters are left out."""
    from Bio.PDB import PDBIO, MMCIFParser, PDBParser, Select
    from Bio.PDB.Polypeptide import is_aa
    from meeko import MoleculePreparation, PDBQTWriterLegacy, Polymer, ResidueChemTemplates

    protein_file = Path(protein_file)
    parser = MMCIFParser(QUIET=True) if protein_file.suffix.lower() in (".cif", ".mmcif") else PDBParser(QUIET=True)
    structure = parser.get_structure("receptor", str(protein_file))
    wanted = set(pocket_residues)

    class PocketSelect(Select):
        def accept_model(self, model):
            return model.id == structure[0].id if hasattr(structure, "__getitem__") else True

        def accept_residue(self, residue):
            chain = residue.get_parent().id
            return is_aa(residue, standard=True) and (chain, residue.id[1], residue.id[2].strip()) in wanted

        def accept_atom(self, atom):
            return (not atom.is_disordered()) or atom.get_altloc() in ("A", " ")

    io = PDBIO()
    io.set_structure(structure)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pocket.pdb"
        io.save(str(path), PocketSelect())
        text = path.read_text()
    templates = ResidueChemTemplates.create_from_defaults()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # meeko logs every residue cut at the pocket's edge (expected: ignored)
    try:
        with rdBase.BlockLogs():
            polymer = Polymer.from_pdb_string(text, templates, MoleculePreparation(), allow_bad_res=True,
                                              default_altloc="A")
            rigid, _ = PDBQTWriterLegacy.write_from_polymer(polymer)
    finally:
        root.setLevel(level)
    if not rigid.strip():
        raise InputError(f"{protein_file}: no pocket residue could be prepared for Vina")
    return rigid + _cofactor_pdbqt(structure, wanted, is_aa)


def _cofactor_pdbqt(structure, wanted, is_aa) -> str:
    """ATOM records (PDBQT) of the non-amino-acid, non-water residues among ``wanted``."""
    lines = []
    for residue in next(iter(structure)).get_residues():
        chain = residue.get_parent().id
        key = (chain, residue.id[1], residue.id[2].strip())
        if key not in wanted or is_aa(residue, standard=True) or residue.get_resname() in ("HOH", "WAT", "DOD"):
            continue
        for atom in residue.get_atoms():
            if atom.is_disordered() and atom.get_altloc() not in ("A", " "):
                continue
            kind = COFACTOR_TYPES.get((atom.element or "").strip().upper())
            if kind is None:
                continue
            x, y, z = atom.coord
            lines.append(f"ATOM  {len(lines) + 1:5d} {atom.get_name()[:4]:<4} {residue.get_resname()[:3]:>3} "
                         f"{chain[:1]:1}{residue.id[1] % 10000:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00    "
                         f"+0.000 {kind:<2}")
    return "\n".join(lines) + ("\n" if lines else "")


def ligand_pdbqt(mol: Chem.Mol) -> str | None:
    """PDBQT of a ligand with 3D hydrogens (meeko); None if it cannot be prepared."""
    from meeko import MoleculePreparation, PDBQTWriterLegacy

    try:
        with rdBase.BlockLogs():
            setups = MoleculePreparation().prepare(Chem.AddHs(mol, addCoords=True))
            text, ok, _ = PDBQTWriterLegacy.write_string(setups[0])
    except Exception:  # noqa: BLE001 -- meeko raises many kinds for odd molecules; recorded as "not scored"
        return None
    return text if ok else None


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


def _pdbqt_types(text: str) -> set[str]:
    """Vina's X-Score atom types of a PDBQT ligand, which the grid maps are computed for
    (:func:`moldiff.docking.energy.xs_types`: the AutoDock type refined by bonded polar
    hydrogens and heteroatoms). Keyed on the AutoDock type alone, a ligand with a hydroxyl
    could be scored against maps made from ligands whose oxygens are all acceptors, and
    Vina aborts the process ("Affinity map for atom type O_DA is not present")."""
    from moldiff.docking.energy import pdbqt_atoms, xs_types

    return {t for t in xs_types(*pdbqt_atoms(text)) if t is not None}


def pdbqt_poses(text: str) -> list[Chem.Mol]:
    """Every pose of a meeko-written PDBQT (one per MODEL) as an RDKit molecule with
    hydrogens and bond orders (from meeko's SMILES remark)."""
    from meeko import PDBQTMolecule, RDKitMolCreate

    with rdBase.BlockLogs():
        mol = RDKitMolCreate.from_pdbqt_mol(PDBQTMolecule(text, skip_typing=True))[0]
    if mol is None:
        return []
    return [Chem.Mol(mol, confId=c.GetId()) for c in mol.GetConformers()]


def pocket_residues(pocket) -> list[tuple[str, int, str]]:
    """``(chain, resseq, icode)`` of every residue of a pocket :class:`~moldiff.data.protein.Protein`."""
    return sorted({(c, int(r), i.strip()) for c, r, i in zip(pocket.chain, pocket.residue_number,
                                                             pocket.insertion_code)})


def vina_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("vina", "meeko", "gemmi"))


# --- everything together -----------------------------------------------------------------------
def evaluate_in_pocket(mols: list[Chem.Mol | None], protein_file: str | Path, *, pocket=None, reference=None,
                       center=None, radius: float = 10.0, vina: bool = True, posebusters: bool | str = True,
                       vina_minimise: bool = True, progress: bool = False,
                       seconds: float | None = DEFAULT_SECONDS) -> dict:
    """Metrics of designed ligands (``None`` = could not be assembled, counted invalid).

    ``pocket``: the :class:`~moldiff.data.protein.Protein` pocket (default: residues within
    ``radius`` of ``reference``'s atoms or of ``center``). ``reference``: the reference ligand,
    scored the same way (``reference_*`` keys). ``posebusters``: ``True`` or ``"full"`` (all
    intramolecular checks), ``"fast"`` (without the slow internal-energy check) or ``False`` /
    ``"off"``. ``vina_minimise=False`` skips the Vina-minimised score (``vina_min`` is then NaN).
    ``seconds``: the bound on each molecule's PoseBusters checks and on its Vina scoring (None:
    none); a molecule over it is recorded as timed out (``posebusters_timed_out``,
    ``vina_timed_out``), counts as not passing PoseBusters and has no Vina score.
    Returns a dict of summary metrics and
    ``per_molecule`` rows.
    """
    from moldiff.data.protein import read_protein, select_pocket
    from moldiff.metrics.druglike import druglike_properties

    protein = read_protein(protein_file)
    if pocket is None:
        site = reference.GetConformer().GetPositions() if reference is not None else None
        pocket = select_pocket(protein, ligand_pos=site, center=None if site is not None else center, radius=radius)
    n = len(mols)
    valid = [c for c in map(sanitized, mols) if c is not None]
    rows = []
    for m in valid:
        row = {"smiles": Chem.MolToSmiles(Chem.RemoveHs(m)), "connected": is_connected(m),
               "heavy_atoms": m.GetNumHeavyAtoms(), **clash_report(m, pocket)}
        row.update(druglike_properties(m))
        rows.append(row)
    if posebusters not in (True, False, "full", "fast", "off"):
        raise InputError(f"posebusters must be full, fast or off, got {posebusters!r}")
    run_pb = posebusters not in (False, "off")
    pb = (posebusters_mol_checks(valid, energy=posebusters != "fast", seconds=seconds, progress=progress)
          if run_pb else None)
    if pb is not None:
        for row, ok in zip(rows, pb):
            row["posebusters"] = bool(ok)
            if ok is TIMED_OUT:
                row["posebusters_timed_out"] = True
    site_center = (reference.GetConformer().GetPositions().mean(0) if reference is not None else
                   np.asarray(center, dtype=float) if center is not None else pocket.pos.mean(0))
    ref_row = None
    if reference is not None:
        ref_row = {"smiles": Chem.MolToSmiles(Chem.RemoveHs(reference)), **clash_report(reference, pocket),
                   **druglike_properties(reference)}
    scorer = None
    if vina and vina_available():
        ligands = valid + ([reference] if reference is not None else [])
        scorer = VinaScorer(protein_file, pocket_residues(pocket), site_center, ligands)
        scorer.prepare_maps(ligands)
        from moldiff.progress import Progress

        with Progress(len(ligands), "Vina", "mol", enabled=progress) as bar:
            scores = map_bounded(lambda m: scorer.score(m, minimise=vina_minimise), ligands, seconds=seconds,
                                 progress=bar.update)
        for row, score in zip([*rows, *([ref_row] if ref_row is not None else [])], scores):
            if score is TIMED_OUT:
                row["vina"] = row["vina_min"] = float("nan")
                row["vina_timed_out"] = True
            else:
                row["vina"], row["vina_min"] = score
    elif vina:
        log.warning("vina/meeko/gemmi are not installed (pip install 'moldiff[eval]'); Vina scores skipped")

    def mean(key, subset=rows):
        values = [r[key] for r in subset if key in r and r[key] == r[key]]
        return float(np.mean(values)) if values else float("nan")

    connected = [r for r in rows if r["connected"]]
    unique = {r["smiles"] for r in rows}
    out = {
        "n": n,
        "validity": len(valid) / n if n else float("nan"),
        "connectivity": len(connected) / n if n else float("nan"),
        "valid_and_connected": len(connected) / n if n else float("nan"),
        "uniqueness": len(unique) / len(rows) if rows else float("nan"),
        "diversity": diversity(valid),
        "qed": mean("qed"), "sa": mean("sa"), "logp": mean("logp"),
        "lipinski": float(np.mean([r["lipinski_violations"] <= 1 for r in rows])) if rows else float("nan"),
        "clash_2A": mean("clash"), "clash_vdw": mean("clash_vdw"),
        "posebusters_mol_valid": mean("posebusters") if pb is not None else None,
        "posebusters_timed_out": sum(r.get("posebusters_timed_out", False) for r in rows) if pb is not None else None,
        "vina_timed_out": sum(r.get("vina_timed_out", False) for r in rows) if scorer else None,
        "vina": mean("vina") if scorer else None, "vina_min": mean("vina_min") if scorer else None,
        "heavy_atoms": mean("heavy_atoms"),
    }
    if ref_row is not None:
        out.update({f"reference_{k}": v for k, v in ref_row.items() if k != "smiles"})
        out["reference_smiles"] = ref_row["smiles"]
    out["per_molecule"] = rows
    return out
