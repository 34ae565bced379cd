"""A drug-like 3D set built from SMILES (our stand-in for GEOM-Drugs).

GEOM-Drugs is not available offline, so pocket models are pre-trained on conformers
generated here: a seeded subset of the MOSES training SMILES (``../shared/data/moses``),
one RDKit ETKDGv3 conformer per molecule relaxed with MMFF94, hydrogens kept in the
records. The build is deterministic for a given (source, n, seed, RDKit version), runs in
parallel worker processes, is cached in ``$MOLDIFF_CACHE`` and records what it did
(source file, seed, counts, failures, RDKit version) in :attr:`DrugLike3D.manifest`.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from moldiff.errors import InputError
from moldiff.parallel import ordered_map

log = logging.getLogger(__name__)

BUILD_VERSION = 1
#: elements of the drug-like set (MOSES has no others); "H" is dropped with hydrogens=False
DRUGLIKE_ELEMENTS = ("C", "N", "O", "S", "F", "Cl", "Br", "H")


def read_smiles_column(path: str | Path) -> list[str]:
    """SMILES from a one-column CSV (``SMILES`` header; ``.csv`` or ``.csv.gz``) or a ``.smi`` file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such SMILES file")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        lines = [line.strip().split(",")[0].split()[0] for line in fh if line.strip()]
    if lines and lines[0].upper() == "SMILES":
        lines = lines[1:]
    if not lines:
        raise InputError(f"{path}: no SMILES")
    return lines


def embed_smiles(smiles: str, seed: int):
    """SMILES -> (symbols, pos (N,3) float32, charges) with hydrogens, or ``(None, reason)``."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None, "unparsable SMILES"
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if AllChem.EmbedMolecule(mol, params) != 0:
        return None, "embedding failed"
    try:
        if AllChem.MMFFHasAllMoleculeParams(mol):
            AllChem.MMFFOptimizeMolecule(mol, maxIters=500)
    except Exception:  # noqa: BLE001 -- a force-field failure keeps the ETKDG geometry
        pass
    symbols = [a.GetSymbol() for a in mol.GetAtoms()]
    pos = mol.GetConformer().GetPositions().astype(np.float32)
    charges = np.array([a.GetFormalCharge() for a in mol.GetAtoms()], dtype=np.int8)
    return (symbols, pos, charges), None


def _embed_job(args):
    k, smiles, seed = args
    return k, smiles, *embed_smiles(smiles, seed)


def _read_cache(path: Path) -> dict | None:
    """The stored set (``smiles``, ``symbols``, ``pos``, ``charges``, ``manifest``) of a cache file,
    or ``None`` (with a warning) when it is unreadable, unsafe or inconsistent: it is then rebuilt."""
    from moldiff.serialization import load_tensors

    try:
        blob = load_tensors(path, "drug-like cache")
        counts = [int(c) for c in blob["counts"]]
        manifest = json.loads(blob["manifest"])
        if not (len(blob["smiles"]) == len(blob["symbols"]) == len(counts) == manifest["built"]
                and [len(s) for s in blob["symbols"]] == counts
                and len(blob["pos"]) == len(blob["charges"]) == sum(counts)):
            raise ValueError("molecule or atom counts disagree")
        pos = np.split(blob["pos"].numpy(), np.cumsum(counts)[:-1])
        charges = np.split(blob["charges"].numpy(), np.cumsum(counts)[:-1])
    except (InputError, KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("%s: unusable drug-like cache (%s); rebuilding", path, exc)
        return None
    return {"smiles": list(blob["smiles"]), "symbols": [list(s) for s in blob["symbols"]], "pos": pos,
            "charges": charges, "manifest": manifest}


class DrugLike3D:
    """Conformers for a seeded subset of a SMILES file.

    Args:
        source: SMILES file (the data module's default: ``moses/train.csv.gz`` under the data root).
        n: molecules to draw (without replacement, ``numpy.random.RandomState(seed)``).
        seed: subset and embedding seed. workers: processes for the build (1 = in process).
        hydrogens: keep hydrogens in :meth:`graph` (they are always stored).

    Attributes:
        smiles, symbols, pos, charges: per molecule. manifest: how the set was built.
    """

    def __init__(self, source: str | Path, n: int, *, seed: int = 0, workers: int = 1, hydrogens: bool = False,
                 cache: bool = True, progress: bool = True) -> None:
        import torch

        from moldiff.paths import atomic_path, cache_dir

        if n <= 0:
            raise InputError(f"n must be positive, got {n}")
        source = Path(source)
        if not source.is_file():
            raise InputError(f"{source}: no such SMILES file")
        self.hydrogens = hydrogens
        stat = source.stat()
        key = hashlib.sha1(json.dumps([str(source.resolve()), stat.st_size, n, seed, BUILD_VERSION]).encode())
        path = cache_dir() / f"druglike_{source.name.split('.')[0]}_{n}_{seed}_{key.hexdigest()[:10]}.pt"
        if cache and path.is_file():
            blob = _read_cache(path)
            if blob is not None:
                self.__dict__.update(blob)
                self.hydrogens = hydrogens
                return
        all_smiles = read_smiles_column(source)
        if n > len(all_smiles):
            raise InputError(f"{source}: asked for {n} molecules but the file has {len(all_smiles)}")
        chosen = np.sort(np.random.RandomState(seed).choice(len(all_smiles), n, replace=False))
        jobs = [(int(k), all_smiles[k], seed + int(k)) for k in chosen]
        start = time.perf_counter()
        results = list(self._progress(ordered_map(_embed_job, jobs, workers, chunksize=16), n, progress))
        self.smiles, self.symbols, self.pos, self.charges, failures = [], [], [], [], []
        for k, smi, record, reason in results:
            if record is None:
                failures.append((k, smi, reason))
                continue
            symbols, pos, charges = record
            bad = set(symbols) - set(DRUGLIKE_ELEMENTS)
            if bad:
                failures.append((k, smi, f"element(s) {sorted(bad)}"))
                continue
            self.smiles.append(smi)
            self.symbols.append(symbols)
            self.pos.append(pos)
            self.charges.append(charges)
        from rdkit import rdBase

        self.manifest = {"source": str(source), "source_bytes": stat.st_size, "requested": n, "seed": seed,
                         "built": len(self.smiles), "failures": failures[:100], "n_failures": len(failures),
                         "rdkit": rdBase.rdkitVersion, "method": "ETKDGv3 + MMFF94 (500 iterations), one conformer",
                         "seconds": round(time.perf_counter() - start, 1), "build_version": BUILD_VERSION}
        if not self.smiles:
            raise InputError(f"{source}: no molecule could be embedded (first failure: {failures[0][2]})")
        log.info("drug-like set: %d molecules embedded, %d failed, %.0f s", len(self.smiles), len(failures),
                 self.manifest["seconds"])
        if cache:  # plain data only (tensors, str, numbers): read back without unpickling objects
            counts = [len(s) for s in self.symbols]
            with atomic_path(path) as tmp:
                torch.save({"smiles": self.smiles, "symbols": self.symbols, "counts": counts,
                            "pos": torch.from_numpy(np.concatenate(self.pos)),
                            "charges": torch.from_numpy(np.concatenate(self.charges)),
                            "manifest": json.dumps(self.manifest)}, tmp)

    @staticmethod
    def _progress(iterable, total, enabled):
        if not enabled:
            return iterable
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc="embedding conformers", unit="mol")

    def __len__(self) -> int:
        return len(self.smiles)

    def graph(self, k: int):
        """Molecule ``k`` as PyG ``Data``: ``pos`` (centred, Å), ``atom_type`` (index into
        :data:`DRUGLIKE_ELEMENTS`), ``charge``; hydrogens dropped unless ``hydrogens``."""
        import torch
        from torch_geometric.data import Data

        symbols = np.array(self.symbols[k])
        keep = np.ones(len(symbols), bool) if self.hydrogens else symbols != "H"
        lookup = {e: i for i, e in enumerate(DRUGLIKE_ELEMENTS)}
        pos = torch.as_tensor(self.pos[k][keep])
        return Data(pos=pos - pos.mean(0), atom_type=torch.tensor([lookup[s] for s in symbols[keep]]),
                    charge=torch.as_tensor(self.charges[k][keep].astype(np.int64)), idx=torch.tensor([k]))

    def __getitem__(self, k: int):
        return self.graph(k)
