"""Protein–ligand complexes from a folder: layout discovery, featurisation, cache, split.

Layouts recognised in each sub-folder of ``root`` (and, for CrossDocked, anywhere below):

=============  ==============================================================  ==========
layout         files                                                           target
=============  ==============================================================  ==========
``pdbbind``    ``<ID>/<ID>_protein.pdb`` + ``<ID>_ligand.sdf|.mol2``             ``<ID>``
               (+ optional ``<ID>_pocket10.pdb`` / ``<ID>_pocket.pdb``);
               PoseBusters and PDBbind folders
``fep``        ``<G>__<S>/<S>_protein.pdb`` + ``<S>_ligands.sdf`` (one complex  folder
               per ligand record)
``plain``      ``<ID>/protein.pdb`` + ``ligand.sdf`` (``../shared/data/smoke``)    ``<ID>``
``crossdocked`` ``<family>/<name>_pocket10.pdb`` + ``<family>/<name>.sdf``       family
=============  ==============================================================  ==========

:class:`ComplexDataset` turns entries into PyG ``Data`` (ligand heavy atoms + pocket
atoms within ``radius`` Å of the ligand), caches them once per (root, settings) in
``$MOLDIFF_CACHE``, and records every complex it could not use with the reason.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from moldiff.errors import InputError

log = logging.getLogger(__name__)

#: bump when complex_graph's output changes (invalidates caches)
FEATURES_VERSION = 2
#: ligand element vocabulary of the pocket models (heavy atoms; "H" when hydrogens are kept)
LIGAND_ELEMENTS = ("C", "N", "O", "S", "F", "Cl", "Br", "I", "P", "B", "H")
#: atom types of the pocket models (heavy atoms; hydrogens are added to generated ligands)
HEAVY_LIGAND_ELEMENTS = LIGAND_ELEMENTS[:-1]


@dataclass(frozen=True)
class ComplexEntry:
    """One protein with one ligand file (``record``: which SDF record; ``None`` = the first)."""

    id: str
    target: str
    protein: Path
    ligand: Path
    pocket: Path | None = None
    record: int | None = None
    layout: str = ""


def _first(folder: Path, names) -> Path | None:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


def _count_sdf_records(path: Path) -> int:
    with open(path, errors="replace") as fh:
        return sum(1 for line in fh if line.startswith("$$$$"))


def find_complexes(root: str | Path) -> list[ComplexEntry]:
    """Every complex under ``root`` in a recognised layout, sorted by id.

    Raises:
        InputError: ``root`` is missing or holds no complex in any known layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: complex data folder does not exist")
    entries: list[ComplexEntry] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        name = folder.name
        protein = _first(folder, [f"{name}_protein.pdb", f"{name}_protein.cif", "protein.pdb", "protein.cif"])
        if protein is not None and protein.name.startswith(name):
            ligand = _first(folder, [f"{name}_ligand.sdf", f"{name}_ligand.mol2"])
            if ligand is not None:
                pocket = _first(folder, [f"{name}_pocket10.pdb", f"{name}_pocket.pdb"])
                entries.append(ComplexEntry(name, name, protein, ligand, pocket, None, "pdbbind"))
                continue
        if protein is not None and protein.name.startswith("protein."):
            ligand = _first(folder, ["ligand.sdf", "ligand.mol2"])
            if ligand is not None:
                entries.append(ComplexEntry(name, name, protein, ligand, _first(folder, ["pocket.pdb"]), None, "plain"))
                continue
        system = name.split("__", 1)[-1]
        protein = _first(folder, [f"{system}_protein.pdb"])
        ligands = _first(folder, [f"{system}_ligands.sdf"])
        if protein is not None and ligands is not None:
            for k in range(_count_sdf_records(ligands)):
                entries.append(ComplexEntry(f"{name}/{k}", name, protein, ligands, None, k, "fep"))
            continue
        for pocket in sorted(folder.glob("*_pocket10.pdb")):  # CrossDocked pocket10
            ligand = pocket.with_name(pocket.name[: -len("_pocket10.pdb")] + ".sdf")
            if ligand.is_file():
                entries.append(ComplexEntry(f"{name}/{ligand.stem}", name, pocket, ligand, pocket, None, "crossdocked"))
    if not entries:
        raise InputError(f"{root}: no complexes found (expected <ID>/<ID>_protein.pdb + <ID>_ligand.sdf, "
                         "<G>__<S>/<S>_protein.pdb + <S>_ligands.sdf, <ID>/protein.pdb + ligand.sdf, "
                         "or CrossDocked <name>_pocket10.pdb + <name>.sdf)")
    return entries


def select_complexes(root: str | Path, ids=None, limit: int | None = None) -> list[ComplexEntry]:
    """The complexes of ``root`` (:func:`find_complexes`, in id order), only ``ids`` when given,
    the first ``limit`` when given.

    Raises:
        InputError: as :func:`find_complexes`, or an id of ``ids`` is not in ``root``.
    """
    entries = find_complexes(root)
    if ids:
        known = {e.id for e in entries}
        missing = [i for i in ids if i not in known]
        if missing:
            raise InputError(f"{root}: no complex with id {', '.join(missing)}")
        entries = [e for e in entries if e.id in set(ids)]
    return entries[:limit] if limit else entries


def split_by_target(entries: list[ComplexEntry], fractions=(0.8, 0.1, 0.1), seed: int = 0) -> dict[str, list]:
    """Split entries into train/val/test so that no target appears in two splits.

    Targets are shuffled with ``seed`` and assigned greedily until each split holds its
    share of *targets* (not complexes). Returns ``{"train": [...], "val": [...], "test": [...]}``.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise InputError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    targets = sorted({e.target for e in entries})
    order = np.random.RandomState(seed).permutation(len(targets))
    n_train = int(round(fractions[0] * len(targets)))
    n_val = int(round(fractions[1] * len(targets)))
    assign = {}
    for rank, k in enumerate(order):
        assign[targets[k]] = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
    out = {"train": [], "val": [], "test": []}
    for e in entries:
        out[assign[e.target]].append(e)
    return out


def structure_file(entry: ComplexEntry) -> Path:
    """The protein file a complex's pocket is cut from (CrossDocked ships only the pocket)."""
    return entry.pocket if entry.layout == "crossdocked" else entry.protein


def complex_graph(entry: ComplexEntry, *, radius: float = 10.0, hydrogens: bool = False,
                  elements=LIGAND_ELEMENTS, protein=None, ligand_records=None):
    """One complex as a PyG ``Data``.

    Ligand: ``pos`` (N, 3) float32 Å, ``atom_type`` (index into ``elements``), ``charge``.
    Pocket (residues with any atom within ``radius`` Å of the ligand): ``pocket_pos``,
    ``pocket_type`` (:data:`~moldiff.data.protein.POCKET_ELEMENTS`), ``pocket_residue_type``,
    ``pocket_backbone``. Coordinates stay in the protein's frame.

    ``protein`` / ``ligand_records``: the already-read protein (:func:`read_protein` of
    :func:`structure_file`) and, for multi-record entries, ligand file
    (``read_ligand(..., all_records=True)``), so complexes sharing files (the FEP layout:
    one protein, many ligands) read them once.

    Raises:
        InputError: unreadable files, an unsupported ligand element, an empty pocket.
    """
    import torch
    from torch_geometric.data import Data

    from moldiff.chem.ligand import check_elements, read_ligand
    from moldiff.data.protein import pocket_graph, read_protein, select_pocket

    if entry.record is None:
        ligand = read_ligand(entry.ligand, hydrogens="keep" if hydrogens else "remove")
    else:
        records = ligand_records if ligand_records is not None else read_ligand(
            entry.ligand, hydrogens="keep" if hydrogens else "remove", all_records=True)
        if entry.record >= len(records):
            raise InputError(f"{entry.ligand}: record {entry.record + 1} is not a readable molecule")
        ligand = records[entry.record]
    if ligand.GetNumConformers() == 0:
        raise InputError(f"{entry.ligand}: ligand has no 3D coordinates")
    allowed = [e for e in elements if hydrogens or e != "H"]
    check_elements(ligand, allowed, str(entry.ligand))
    lig_pos = ligand.GetConformer().GetPositions()
    if protein is None:
        protein = read_protein(structure_file(entry), hydrogens=hydrogens)
    pocket = pocket_graph(select_pocket(protein, ligand_pos=lig_pos, radius=radius))
    lookup = {e: k for k, e in enumerate(elements)}
    return Data(
        pos=torch.as_tensor(lig_pos, dtype=torch.float32),
        atom_type=torch.tensor([lookup[a.GetSymbol()] for a in ligand.GetAtoms()], dtype=torch.long),
        charge=torch.tensor([a.GetFormalCharge() for a in ligand.GetAtoms()], dtype=torch.long),
        pocket_pos=pocket.pos,
        pocket_type=pocket.atom_type,
        pocket_residue_type=pocket.residue_type,
        pocket_backbone=pocket.backbone,
        num_pocket_atoms=len(pocket.pos),
        id=entry.id,
        target=entry.target,
    )


def _entry_to_dict(entry: ComplexEntry) -> dict:
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(entry).items()}


def _read_cache(path: Path, count: int):
    """``(graphs, entries, skipped)`` from a cache file written by :class:`ComplexDataset`, or
    ``None`` (with a warning) when it is unreadable, unsafe or inconsistent: it is then rebuilt."""
    from torch_geometric.data import Data

    from moldiff.serialization import load_tensors

    try:
        blob = load_tensors(path, "complex cache")
        graphs = [Data(**g) for g in blob["graphs"]]
        entries = [ComplexEntry(**{k: Path(v) if k in ("protein", "ligand", "pocket") and v is not None else v
                                   for k, v in e.items()}) for e in blob["entries"]]
        skipped = [tuple(x) for x in blob["skipped"]]
        if blob["count"] != count or len(graphs) != len(entries) or len(graphs) + len(skipped) != count:
            raise ValueError(f"{len(graphs)} graphs and {len(skipped)} skipped for {count} complexes")
    except (InputError, KeyError, TypeError, ValueError) as exc:
        log.warning("%s: unusable complex cache (%s); rebuilding", path, exc)
        return None
    return graphs, entries, skipped


class ComplexDataset:
    """Featurised complexes of a folder, built once and cached.

    Args:
        root: data folder (see the module docstring for layouts).
        radius: pocket radius around the ligand, Å. hydrogens: keep ligand and pocket H.
        limit: only the first ``limit`` entries (sorted by id). cache: use/write the cache.
        progress: progress bar while building.

    Attributes:
        entries: the :class:`ComplexEntry` rows used. skipped: ``(id, reason)`` for
        complexes that could not be featurised (never silently dropped).
    """

    def __init__(self, root: str | Path, *, radius: float = 10.0, hydrogens: bool = False,
                 limit: int | None = None, cache: bool = True, progress: bool = True) -> None:
        import torch

        from moldiff.paths import atomic_path, cache_dir

        self.root = Path(root)
        entries = find_complexes(self.root)[:limit]
        settings = {"root": str(self.root.resolve()), "radius": radius, "hydrogens": hydrogens,
                    "entries": [str(e.ligand.stat().st_mtime_ns) + e.id for e in entries], "version": FEATURES_VERSION}
        key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        path = cache_dir() / f"complexes_{self.root.name}_{key}.pt" if cache else None
        if path is not None and path.is_file():
            stored = _read_cache(path, len(entries))
            if stored is not None:
                self.graphs, self.entries, self.skipped = stored
                return
        graphs, used, skipped = [], [], []
        rows = entries
        if progress:
            from tqdm.auto import tqdm

            rows = tqdm(entries, desc=f"featurising {self.root.name}", unit="complex")
        from moldiff.chem.ligand import read_ligand
        from moldiff.data.protein import read_protein

        last: dict = {}  # one slot per kind: FEP folders share a protein and an SDF, read them once

        def once(kind, key, read):
            if last.get(kind, (None,))[0] != key:
                last[kind] = (key, read())  # a failing read raises and caches nothing
            return last[kind][1]

        for entry in rows:
            try:
                kwargs = {}
                if entry.record is not None:
                    kwargs["protein"] = once("protein", structure_file(entry),
                                             lambda: read_protein(structure_file(entry), hydrogens=hydrogens))
                    kwargs["ligand_records"] = once("ligands", entry.ligand, lambda: read_ligand(
                        entry.ligand, hydrogens="keep" if hydrogens else "remove", all_records=True))
                graphs.append(complex_graph(entry, radius=radius, hydrogens=hydrogens, **kwargs))
                used.append(entry)
            except InputError as exc:
                skipped.append((entry.id, str(exc)))
        if skipped:
            log.warning("%s: %d of %d complexes skipped (first: %s: %s)", self.root, len(skipped), len(entries),
                        *skipped[0])
        if not graphs:
            raise InputError(f"{self.root}: none of the {len(entries)} complexes could be used "
                             f"(first problem: {skipped[0][1]})")
        self.graphs, self.entries, self.skipped = graphs, used, skipped
        if path is not None:  # plain data only (tensors, str, int): read back without unpickling objects
            with atomic_path(path) as tmp:
                torch.save({"graphs": [dict(g.to_dict()) for g in graphs],
                            "entries": [_entry_to_dict(e) for e in used],
                            "skipped": [list(x) for x in skipped], "count": len(entries)}, tmp)

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, k: int):
        return self.graphs[k]

    def summary(self) -> dict:
        """Counts per layout and target, atoms per ligand and pocket (for logs and notebooks)."""
        lig = np.array([g.pos.shape[0] for g in self.graphs])
        pocket = np.array([g.pocket_pos.shape[0] for g in self.graphs])
        return {
            "complexes": len(self.graphs), "targets": len({e.target for e in self.entries}),
            "skipped": len(self.skipped), "layouts": sorted({e.layout for e in self.entries}),
            "ligand_atoms_median": float(np.median(lig)), "pocket_atoms_median": float(np.median(pocket)),
        }

    def entry_dicts(self) -> list[dict]:
        return [{k: str(v) if isinstance(v, Path) else v for k, v in asdict(e).items()} for e in self.entries]
