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
from pathlib import Path

import numpy as np
from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem import rdFingerprintGenerator

from moldiff.errors import InputError
from moldiff.timebound import DEFAULT_SECONDS, TIMED_OUT, map_bounded
from moldiff.vina.prepare import pocket_residues
from moldiff.vina.scorer import VinaScorer, vina_available

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


#: ring sizes a drug-like ligand rarely holds (3- and 4-membered rings are strained, rings of
#: more than 8 atoms are macrocycle fragments); a generated ligand with one is reported
UNUSUAL_RING = (3, 4)
LARGE_RING = 8


def ring_report(mol: Chem.Mol) -> dict:
    """``ring_sizes`` (sorted, of RDKit's smallest set of rings), ``unusual_ring`` (a 3-, 4- or
    more-than-8-membered ring) and ``elements`` (heavy-atom counts by element) of ``mol``."""
    sizes = sorted(len(r) for r in mol.GetRingInfo().AtomRings())
    elements: dict[str, int] = {}
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() > 1:
            elements[atom.GetSymbol()] = elements.get(atom.GetSymbol(), 0) + 1
    return {"ring_sizes": sizes, "unusual_ring": any(s in UNUSUAL_RING or s > LARGE_RING for s in sizes),
            "elements": elements}


def ring_size_counts(rows) -> dict[str, int]:
    """Rings by size over ``rows`` (:func:`ring_report` rows): ``{"3": 0, "5": 12, "6": 40, ...}``."""
    counts: dict[int, int] = {}
    for r in rows:
        for size in r["ring_sizes"]:
            counts[size] = counts.get(size, 0) + 1
    return {str(k): counts[k] for k in sorted(counts)}


def element_shares(rows) -> dict[str, float]:
    """Share of heavy atoms by element over ``rows`` (:func:`ring_report` rows)."""
    total: dict[str, int] = {}
    for r in rows:
        for el, k in r["elements"].items():
            total[el] = total.get(el, 0) + k
    n = sum(total.values())
    return {el: total[el] / n for el in sorted(total, key=lambda e: -total[e])} if n else {}


def evaluate_in_pocket(mols: list[Chem.Mol | None], protein_file: str | Path, *, pocket=None, reference=None,
                       center=None, radius: float = 10.0, vina: bool = True, posebusters: bool | str = True,
                       vina_minimise: bool = True, redock: int | None = None, progress: bool = False,
                       seconds: float | None = DEFAULT_SECONDS) -> dict:
    """Metrics of designed ligands (``None`` = could not be assembled, counted invalid).

    ``pocket``: the :class:`~moldiff.data.protein.Protein` pocket (default: residues within
    ``radius`` of ``reference``'s atoms or of ``center``). ``reference``: the reference ligand,
    scored the same way (``reference_*`` keys). ``posebusters``: ``True`` or ``"full"`` (all
    intramolecular checks), ``"fast"`` (without the slow internal-energy check), ``"dock"``
    (PoseBusters' ``dock`` configuration: the intramolecular checks and the distances to and
    volume overlap with the protein) or ``False`` / ``"off"``; ``posebusters_valid`` is the share
    passing, ``posebusters_mol_valid`` the same for the intramolecular configurations.
    ``vina_minimise=False`` skips the Vina-minimised score (``vina_min`` is then NaN).
    ``redock``: re-dock every ligand (and the reference) with Vina's global search at this
    exhaustiveness in the same box (``vina_docked``: the best score), and report the share of
    designs whose re-docked score is at least as good as the reference's
    (``at_least_reference_docked``). Each row holds ``index`` (the position in ``mols``) and
    :func:`ring_report`'s keys; the summary holds ``unusual_ring``, ``ring_sizes`` (counts by
    size) and ``elements`` (share of heavy atoms by element).
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
    indexed = [(i, c) for i, c in enumerate(map(sanitized, mols)) if c is not None]
    valid = [c for _, c in indexed]
    rows = []
    for i, m in indexed:
        row = {"index": i, "smiles": Chem.MolToSmiles(Chem.RemoveHs(m)), "connected": is_connected(m),
               "heavy_atoms": m.GetNumHeavyAtoms(), **clash_report(m, pocket), **ring_report(m)}
        row.update(druglike_properties(m))
        rows.append(row)
    if posebusters not in (True, False, "full", "fast", "dock", "off"):
        raise InputError(f"posebusters must be full, fast, dock or off, got {posebusters!r}")
    run_pb = posebusters not in (False, "off")
    ref_row = None
    if reference is not None:
        ref_row = {"smiles": Chem.MolToSmiles(Chem.RemoveHs(reference)), "heavy_atoms": reference.GetNumHeavyAtoms(),
                   **clash_report(reference, pocket), **ring_report(reference), **druglike_properties(reference)}
    scored_rows = [*rows, *([ref_row] if ref_row is not None else [])]
    scored_mols = valid + ([reference] if reference is not None else [])
    pb = None
    if run_pb:
        pb = (posebusters_dock_checks(scored_mols, protein_file, seconds=seconds, progress=progress)
              if posebusters == "dock" else
              posebusters_mol_checks(scored_mols, energy=posebusters != "fast", seconds=seconds, progress=progress))
    if pb is not None:
        for row, ok in zip(scored_rows, pb):
            row["posebusters"] = bool(ok)
            if ok is TIMED_OUT:
                row["posebusters_timed_out"] = True
    site_center = (reference.GetConformer().GetPositions().mean(0) if reference is not None else
                   np.asarray(center, dtype=float) if center is not None else pocket.pos.mean(0))
    scorer = None
    vina_error = None
    if (vina or redock) and vina_available():
        try:
            scorer = VinaScorer(protein_file, pocket_residues(pocket), site_center, scored_mols)
            scorer.prepare_maps(scored_mols)
        except (RuntimeError, ValueError, InputError) as exc:  # meeko cannot type a residue, ...
            vina_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            log.warning("%s: Vina cannot prepare this receptor (%s); Vina scores skipped", protein_file, vina_error)
            scorer = None
    if scorer is not None:
        from moldiff.progress import Progress

        if vina:
            with Progress(len(scored_mols), "Vina", "mol", enabled=progress) as bar:
                scores = map_bounded(lambda m: scorer.score(m, minimise=vina_minimise), scored_mols,
                                     seconds=seconds, progress=bar.update)
            for row, score in zip(scored_rows, scores):
                if score is TIMED_OUT:
                    row["vina"] = row["vina_min"] = float("nan")
                    row["vina_timed_out"] = True
                else:
                    row["vina"], row["vina_min"] = score
        if redock:
            def best(m):  # Vina's global search in the same box; NaN where meeko cannot type it
                try:
                    return float(scorer.dock(m, exhaustiveness=redock, n_poses=1)[0][0])
                except (InputError, RuntimeError, IndexError):
                    return float("nan")

            with Progress(len(scored_mols), "Vina re-docking", "mol", enabled=progress) as bar:
                docked = map_bounded(best, scored_mols, seconds=seconds, progress=bar.update)
            for row, score in zip(scored_rows, docked):
                row["vina_docked"] = float("nan") if score is TIMED_OUT else score
                if score is TIMED_OUT:
                    row["vina_docked_timed_out"] = True
    elif (vina or redock) and vina_error is None:
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
        "posebusters_checks": posebusters if posebusters in ("fast", "dock", "off") else
        ("full" if posebusters else "off"),
        "posebusters_valid": mean("posebusters") if pb is not None else None,
        "posebusters_mol_valid": mean("posebusters") if pb is not None and posebusters != "dock" else None,
        "posebusters_timed_out": sum(r.get("posebusters_timed_out", False) for r in rows) if pb is not None else None,
        "vina_timed_out": sum(r.get("vina_timed_out", False) for r in rows) if scorer and vina else None,
        "vina": mean("vina") if scorer and vina else None, "vina_min": mean("vina_min") if scorer and vina else None,
        "vina_docked": mean("vina_docked") if scorer and redock else None,
        "vina_error": vina_error,
        "heavy_atoms": mean("heavy_atoms"),
        "unusual_ring": float(np.mean([r["unusual_ring"] for r in rows])) if rows else float("nan"),
        "ring_sizes": ring_size_counts(rows),
        "elements": element_shares(rows),
    }
    if scorer and redock and ref_row is not None:
        ref_docked = ref_row.get("vina_docked", float("nan"))
        pairs = [r["vina_docked"] for r in rows if r.get("vina_docked") == r.get("vina_docked")]
        out["at_least_reference_docked"] = (float(np.mean([v <= ref_docked for v in pairs]))
                                            if pairs and ref_docked == ref_docked else float("nan"))
    if ref_row is not None:
        out.update({f"reference_{k}": v for k, v in ref_row.items() if k != "smiles"})
        out["reference_smiles"] = ref_row["smiles"]
    out["per_molecule"] = rows
    return out
