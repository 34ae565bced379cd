"""Pose sets: the candidate poses :meth:`Docker.candidates <moldiff.docking.dock.Docker.candidates>`
produces for complexes whose true pose is known, labelled by their RMSD to it -- the training
and validation data of the pose ranker (:mod:`moldiff.docking.ranker`).

A pose set holds every refined, Vina-scored candidate of one ligand in its site (heavy atoms,
protein frame), the Vina scores, the symmetry-corrected heavy-atom RMSD of each to the true
pose, the ligand (heavy-atom mol block) and the pocket atoms. The search is started from
``random`` placements (a conformer, random orientation, within 2 A of the site centre: the
decoys) and ``near_native`` ones (the true heavy-atom positions turned up to ``max_angle`` and
shifted by a normal offset: what a good diffusion placement gives), so that every set holds
both kinds of local minima; with neither, the docker's own placements (the pocket model's,
as in docking: the distribution a ranker meets in use, for evaluation sets). The true
coordinates only choose placements; every pose is an RDKit conformer of the ligand's graph moved by the search, as in docking.

One file per complex (``<id>.pt``, written atomically, tensors and strings only), so a build
is resumable: :func:`build_pose_sets` skips complexes whose file exists.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem

from moldiff.serialization import load_tensors, save_tensors

log = logging.getLogger(__name__)

FORMAT = "moldiff-pose-set"


@dataclass
class PoseSet:
    """Candidate poses of one ligand in one site, with labels.

    Attributes:
        id: the complex. ligand: heavy-atom RDKit molecule (graph; its conformer is the first pose).
        pos: (P, N, 3) heavy-atom coordinates of the P candidates, in ``ligand``'s atom order.
        score: (P,) Vina scores (kcal/mol). rmsd: (P,) symmetry-corrected RMSD to the true pose, Å.
        pocket_pos: (M, 3) pocket atom coordinates; pocket_element: M element symbols.
    """

    id: str
    ligand: Chem.Mol
    pos: np.ndarray
    score: np.ndarray
    rmsd: np.ndarray
    pocket_pos: np.ndarray
    pocket_element: list[str]

    def save(self, path: str | Path) -> Path:
        data = {"format": FORMAT, "id": self.id, "ligand": Chem.MolToMolBlock(self.ligand),
                "pos": torch.as_tensor(self.pos, dtype=torch.float32),
                "score": torch.as_tensor(self.score, dtype=torch.float32),
                "rmsd": torch.as_tensor(self.rmsd, dtype=torch.float32),
                "pocket_pos": torch.as_tensor(self.pocket_pos, dtype=torch.float32),
                "pocket_element": " ".join(self.pocket_element)}
        return save_tensors(data, path)

    @classmethod
    def load(cls, path: str | Path) -> PoseSet:
        data = load_tensors(path, "pose set")
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            from moldiff.errors import InputError

            raise InputError(f"{path}: not a moldiff pose set")
        ligand = Chem.MolFromMolBlock(data["ligand"], removeHs=False)
        return cls(data["id"], ligand, data["pos"].numpy().astype(np.float64), data["score"].numpy(),
                   data["rmsd"].numpy(), data["pocket_pos"].numpy(), data["pocket_element"].split())


def near_native_placements(true_pos: np.ndarray, n: int, rng: np.random.Generator, *,
                           max_angle: float = np.pi / 2, shift: float = 1.5) -> list[np.ndarray]:
    """``n`` copies of ``true_pos`` (N, 3) turned about their centroid by a random axis and an
    angle uniform in [0, ``max_angle``], shifted by a normal offset of ``shift`` A per axis."""
    from moldiff.geometry import rotvec_to_matrix

    out = []
    centre = true_pos.mean(0)
    for _ in range(n):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        rot = rotvec_to_matrix(torch.as_tensor(axis * rng.uniform(0, max_angle))[None])[0].numpy()
        out.append((true_pos - centre) @ rot.T + centre + rng.normal(size=3) * shift)
    return out


def make_pose_set(docker, protein, true_ligand: Chem.Mol, *, id: str, seed: int = 0, random: int = 4,
                  near_native: int = 4) -> PoseSet:
    """The candidates of ``docker`` (its options: poses, search) for ``true_ligand`` (3D, the
    true pose; also the site's reference) in ``protein``, from ``random`` + ``near_native``
    placements, labelled. Raises what :meth:`Docker.candidates` raises."""
    from moldiff.docking.dock import random_placements
    from moldiff.docking.pose import embed_conformers, heavy_indices, prepare_ligand, symmetric_rmsd

    rng = np.random.default_rng(seed)
    heavy = heavy_indices(true_ligand)
    true_pos = true_ligand.GetConformer().GetPositions()[heavy]
    lig = prepare_ligand(true_ligand, docker.elements, where=id)
    confs = embed_conformers(lig, docker.conformers, seed=seed, where=id)
    placements = random_placements(confs, true_pos.mean(0), random, seed) if random else []
    placements += near_native_placements(true_pos, near_native, rng)
    # no placements asked for: the docker's own (the pocket model's), as in docking
    found = docker.candidates(protein, true_ligand, reference=true_ligand, seed=seed, placements=placements or None,
                              name=id, conformers=confs)
    keep = [i for i, s in enumerate(found.scores) if np.isfinite(s)]
    if not keep:
        raise RuntimeError(f"{id}: no candidate pose could be scored")
    poses = [found.poses[i] for i in keep]
    graph = Chem.RemoveAllHs(poses[0])
    pos = np.stack([p.GetConformer().GetPositions()[heavy_indices(p)] for p in poses])
    rmsd = np.array([symmetric_rmsd(p, true_ligand) for p in poses])
    pocket = found.pocket
    return PoseSet(id, graph, pos, np.array([found.scores[i] for i in keep]), rmsd,
                   np.asarray(pocket.pos), [str(e) for e in pocket.element])


def load_sets(folders) -> list[PoseSet]:
    """Every pose set (``*.pt``) in ``folders`` (a path or a list of them), sorted by file name."""
    from moldiff.errors import InputError

    folders = [folders] if isinstance(folders, (str, Path)) else list(folders)
    files = sorted(f for folder in folders for f in Path(folder).glob("*.pt"))
    if not files:
        raise InputError(f"no pose sets (*.pt) in {', '.join(map(str, folders))}")
    return [PoseSet.load(f) for f in files]


def safe_name(id: str) -> str:
    return id.replace("/", "__")


def build_pose_sets(docker, complexes, out_dir: str | Path, *, seed: int = 0, workers: int = 1,
                    progress: bool = True, **placements) -> list[Path]:
    """A pose set (:func:`make_pose_set`) per complex of ``complexes`` (``(id, protein file,
    true ligand)`` triples) into ``out_dir/<id>.pt``; complexes already there are skipped, a
    failing one is logged and skipped (``out_dir/failed.txt``). ``workers`` processes, one
    torch thread each. Returns the files written or found."""
    from moldiff.progress import Progress

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    todo = [(id, protein, lig) for id, protein, lig in complexes if not (out / f"{safe_name(id)}.pt").exists()]
    jobs = [(docker, id, str(protein), Chem.MolToMolBlock(lig), seed, str(out), placements)
            for id, protein, lig in todo]
    with Progress(len(jobs), "pose sets", "complex", enabled=progress) as bar:
        if workers > 1:
            import multiprocessing as mp

            with mp.get_context("fork").Pool(workers) as pool:
                for message in pool.imap_unordered(_job, jobs):
                    if message:
                        log.warning(message)
                    bar.update(1)
        else:
            for job in jobs:
                message = _job(job)
                if message:
                    log.warning(message)
                bar.update(1)
    return sorted(p for p in out.glob("*.pt"))


def _job(args) -> str | None:
    docker, id, protein, block, seed, out, placements = args
    torch.set_num_threads(1)
    lig = Chem.MolFromMolBlock(block, removeHs=False)
    try:
        make_pose_set(docker, protein, lig, id=id, seed=seed, **placements).save(Path(out) / f"{safe_name(id)}.pt")
        return None
    except Exception as exc:  # noqa: BLE001 -- one failing complex is recorded, the build goes on
        with open(Path(out) / "failed.txt", "a") as fh:
            fh.write(f"{id}\t{type(exc).__name__}: {exc}\n")
        return f"{id}: {type(exc).__name__}: {exc}"
