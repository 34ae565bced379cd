"""Docking one ligand into one protein site: diffusion placement + conformer fit + Vina
refinement and ranking (:class:`Docker`), and the AutoDock Vina baseline (:func:`vina_dock`).

moldiff's pose generation, per complex:

1. the pocket (residues within ``radius`` Å of a reference ligand, a centre, or a box) is
   the fixed context of the shipped pocket model;
2. ``k`` placements of the ligand's heavy atoms are sampled by the pocket diffusion model
   with the ligand's atom types and charges **fixed** (replacement conditioning,
   :class:`~moldiff.diffusion.wrappers.FixedFeatures`); positions start from noise at the
   pocket centre, the input coordinates are never read;
3. each placement is realised by the best-superposing of ``conformers`` seeded RDKit
   conformers of the input graph (:func:`~moldiff.docking.pose.fit_conformer`), so
   geometry and stereochemistry are the input's;
4. a Monte Carlo search under Vina's energy, batched in torch
   (:class:`~moldiff.docking.search.PoseSearch`), runs ``search_chains`` chains from each
   placement (position, orientation, torsions, conformer swaps); the ``2 k`` lowest
   distinct poses are locally optimised by Vina itself and ranked by its score, the best
   ``k`` kept. (``search_steps=0``: the older per-pose refinement instead -- Vina's local
   optimisation plus ``refine_steps`` trials per pose.)

Ranking (``ranking``) is Vina's score by default, a physics score that does not depend on
training targets; ``confidence`` ranks by the learned pose ranker
(:mod:`moldiff.docking.ranker`: the probability that a candidate is within 2 Å of the true
pose, from the complex and from the candidate set) and ``combined`` by the Vina score minus a
weight times the ranker's logit; :meth:`Docker.candidates` gives the unranked candidates.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem

from moldiff.docking.pose import (embed_conformers, fit_conformer, prepare_ligand, with_coordinates,
                                  with_heavy_coordinates)
from moldiff.errors import InputError
from moldiff.options import DockOptions, resolve
from moldiff.progress import Progress, progress_iter

log = logging.getLogger(__name__)

#: elements a docked ligand may contain (the pocket model's heavy-atom vocabulary)
DOCKING_ELEMENTS = ("C", "N", "O", "S", "F", "Cl", "Br", "I", "P", "B")
#: Å, the Vina box edge: the ligand's largest extent plus this, within [BOX_MIN, BOX_MAX]
BOX_PADDING, BOX_MIN, BOX_MAX = 10.0, 20.0, 30.0


@dataclass
class Candidates:
    """The refined, Vina-scored poses of one ligand before ranking (:meth:`Docker.candidates`):
    ``poses`` (RDKit, hydrogens, protein frame), ``scores`` (Vina, kcal/mol; NaN where Vina
    could not score), ``pocket`` (:class:`~moldiff.data.protein.Protein`, the site's residues),
    ``centre`` (3,), ``k`` (poses a docking returns) and ``name``."""

    poses: list[Chem.Mol]
    scores: list[float]
    pocket: object
    centre: np.ndarray
    k: int
    name: str


@dataclass
class DockingResult:
    """Poses of one ligand, best first (RDKit molecules with hydrogens, protein frame).

    Each pose carries SD properties ``rank``, ``score`` (Vina, kcal/mol, after refinement;
    NaN if Vina could not score it), ``method`` and method-specific ones (``fit_rmsd``).
    """

    poses: list[Chem.Mol]
    scores: list[float]
    method: str
    seconds: float
    info: dict = field(default_factory=dict)


def read_site(protein, *, reference=None, center=None, box=None, radius: float = 10.0):
    """Protein, pocket residues and box of a binding site (exactly one definition).

    Returns ``(protein, pocket, box centre (3,), box size or None)``; ``reference``: path or
    RDKit molecule with 3D coordinates (only its coordinates define the site).
    """
    from moldiff.data.protein import binding_site

    prot, pocket, ligand_pos = binding_site(protein, reference=reference, center=center, box=box, radius=radius)
    if box is not None:
        centre, size = (np.asarray(v, dtype=float).reshape(3) for v in box)
        return prot, pocket, centre, np.minimum(size, BOX_MAX * 2)
    centre = ligand_pos.mean(0) if ligand_pos is not None else np.asarray(center, dtype=float).reshape(3)
    return prot, pocket, centre, None


def box_size(ligand_h: Chem.Mol) -> float:
    """Cubic Vina box edge for a ligand: its largest conformer extent + padding (Å)."""
    pos = ligand_h.GetConformer().GetPositions()
    extent = float(np.sqrt(((pos[:, None] - pos[None]) ** 2).sum(-1)).max())
    return float(np.clip(extent + BOX_PADDING, BOX_MIN, BOX_MAX))


def _load_ligand(ligand, where: str | None = None) -> tuple[Chem.Mol, str]:
    from moldiff.chem.ligand import read_ligand

    if isinstance(ligand, Chem.Mol):
        return ligand, where or (ligand.GetProp("_Name") if ligand.HasProp("_Name") else "ligand")
    return read_ligand(ligand), where or str(ligand)


def _scorer(protein_file, pocket, centre, size, seed):
    from moldiff.vina.prepare import pocket_residues
    from moldiff.vina.scorer import VinaScorer

    return VinaScorer(protein_file, pocket_residues(pocket), centre, size=size, seed=seed)


def _finish(poses, scores, method, start, info, name, rank_by=None):
    """Sort poses by ``rank_by`` (default: ``scores``; lower first, NaN last) and label them."""
    key = scores if rank_by is None else rank_by
    order = sorted(range(len(poses)), key=lambda i: (np.isnan(key[i]), key[i]))
    poses, scores = [poses[i] for i in order], [scores[i] for i in order]
    for rank, (pose, score) in enumerate(zip(poses, scores), start=1):
        pose.SetProp("_Name", name)
        pose.SetIntProp("rank", rank)
        pose.SetDoubleProp("score", float(score))
        pose.SetProp("method", method)
    return DockingResult(poses, scores, method, time.perf_counter() - start, info)


class Docker:
    """Diffusion docking with a pocket model (default: the shipped one) and Vina refinement.

        >>> docker = Docker(moldiff.load("pocket"))
        >>> result = docker.dock("P.pdb", "L.sdf", reference="crystal.sdf", k=10, seed=0)
        >>> result.poses[0].GetDoubleProp("score")

    Args:
        model: a :class:`~moldiff.models.PocketModel`.
        options: a :class:`~moldiff.options.DockOptions` (defaults, bounds and help shared with
            ``moldiff dock`` and experiment configs), or its fields as keywords. conformers: RDKit conformers fitted to
            each placement. refine: Vina local optimisation of every pose (needs the
            ``eval`` extra). ranking: ``"vina"`` (score after refinement), ``"fit"``
            (conformer-fit RMSD to the sampled placement; no Vina needed), ``"confidence"``
            (the pose ranker ``ranker``, each pose gets a ``confidence`` property) or
            ``"combined"`` (Vina score minus the ranker's weighted logit). project: restrict
            every sampling step's clean-structure prediction to rigid placements of the
            conformers (:class:`~moldiff.docking.pose.ConformerProjection`); without it the
            network places atoms freely and a conformer is fitted afterwards. refine_steps:
            after the local optimisation, this many Monte Carlo trials per pose (a random rigid
            move of up to 2 Å and 45°, or another conformer superposed on the pose, each
            locally optimised; kept when the Vina score improves). placement: ``"diffusion"``
            or ``"random"`` (ablation: what the refinement alone achieves from random starts).
            clash_distance: Å, clash guidance during placement (each step's predicted ligand
            is pushed this far from the protein before the conformer projection,
            :class:`~moldiff.diffusion.guidance.PocketRepulsion`); None: off.
            search_steps: instead of the per-pose refinement above, a batched Monte Carlo
            search (:class:`~moldiff.docking.search.PoseSearch`, Vina's energy from its grid
            maps, ``search_chains`` chains started from each placement, this many moves
            each); the ``2 k`` lowest distinct poses are then locally optimised by Vina
            itself and ranked. 0: off. Not used with ``ranking="fit"``.
    """

    def __init__(self, model, options: DockOptions | None = None, *, project: bool = True, **values):
        self.model, self.project = model, project
        self.options = o = resolve(DockOptions, options, **values)
        self.conformers, self.refine, self.ranking, self.placement = o.conformers, o.refine, o.ranking, o.placement
        self.refine_steps, self.search_steps, self.search_chains = o.refine_steps, o.search_steps, o.search_chains
        self.clash_distance = o.clash_distance or None
        self.ranker, self._pose_ranker = o.ranker, None
        if self.ranking in ("confidence", "combined"):
            self.pose_ranker()  # a missing or broken ranker file fails here, before any docking

    @property
    def elements(self) -> tuple[str, ...]:
        return tuple(e for e in self.model.elements if e != "H")

    def features(self, ligand_h: Chem.Mol) -> torch.Tensor:
        """Encoded (fixed) heavy-atom features of the ligand, in its heavy-atom order."""
        heavy = [a for a in ligand_h.GetAtoms() if a.GetAtomicNum() > 1]
        types = torch.tensor([self.model.elements.index(a.GetSymbol()) for a in heavy])
        limit = self.model.codec.max_abs_charge
        charges = torch.tensor([max(-limit, min(limit, a.GetFormalCharge())) for a in heavy])
        return self.model.codec.encode(types, charges)

    def place(self, ligand_h: Chem.Mol, graph, *, k: int, steps: int, sampler: str, seed: int,
              batch_size: int = 16, progress: bool = False) -> list[np.ndarray]:
        """``k`` sampled heavy-atom placements (protein frame), numerical failures dropped.
        ``ligand_h`` with conformers: sampling is projected onto them (``project``)."""
        from moldiff.diffusion.guidance import LIGAND_CENTER_RADIUS, Clash, KeepInPocket
        from moldiff.diffusion.pocket import pocket_batch_from, sample_in_pocket
        from moldiff.docking.pose import ConformerProjection

        m = self.model
        h = self.features(ligand_h)
        project = (ConformerProjection.from_mol(ligand_h) if self.project and ligand_h.GetNumConformers() else None)
        guidance = [KeepInPocket(LIGAND_CENTER_RADIUS), *([Clash(self.clash_distance)] if self.clash_distance else []),
                    *([project] if project is not None else [])]
        gen = torch.Generator(device=m.device).manual_seed(int(seed))
        out = []
        with Progress(k, "placing", "pose", enabled=progress) as bar:
            for chunk in torch.full((k,), len(h), dtype=torch.long).split(batch_size):
                mols = sample_in_pocket(m.denoiser, m.schedule, m.codec, m.elements,
                                        pocket_batch_from(graph, len(chunk)), chunk, steps=steps, sampler=sampler,
                                        parameterization=m.parameterization, generator=gen,
                                        fixed_h=h.repeat(len(chunk), 1), guidance=guidance,
                                        callback=bar.steps(len(chunk), steps))
                bar.finish_batch()
                out.extend(x.pos for x in mols if x is not None)
        return out

    def dock(self, protein, ligand, *, reference=None, center=None, box=None, radius: float | None = None,
             k: int | None = None, steps: int | None = None, sampler: str | None = None, seed: int | None = None,
             name: str | None = None, progress: bool = False) -> DockingResult:
        """Dock ``ligand`` (path, SMILES or RDKit molecule; its coordinates are ignored) into
        the site of ``protein`` given by exactly one of ``reference``/``center``/``box``.
        Returns ``k`` poses best first. ``k`` (``num_poses``), ``steps``, ``sampler``, ``seed``:
        this call's values of those options (default: the docker's). ``progress``: bars for
        placement (poses), the search (Monte Carlo moves) and the refinement (poses)."""
        start = time.perf_counter()
        found = self.candidates(protein, ligand, reference=reference, center=center, box=box, radius=radius,
                                k=k, steps=steps, sampler=sampler, seed=seed, name=name, progress=progress)
        poses, scores = found.poses, found.scores
        if self.ranking == "fit":
            rank_by = [p.GetDoubleProp("fit_rmsd") for p in poses]
        elif self.ranking in ("confidence", "combined"):
            ranker = self.pose_ranker()
            confidence = ranker.confidence(poses, scores, found.pocket)
            for pose, c in zip(poses, confidence):
                pose.SetDoubleProp("confidence", float(c))
            rank_by = ranker.rank_key(confidence, scores, self.ranking)
        else:
            rank_by = None
        result = _finish(poses, scores, "moldiff", start, {"centre": found.centre.tolist()},
                         found.name if name is None else name, rank_by)
        del result.poses[found.k:], result.scores[found.k:]
        return result

    def pose_ranker(self):
        """The :class:`~moldiff.docking.ranker.PoseRanker` of ``ranking=confidence/combined`` (read once)."""
        from moldiff.docking.ranker import PoseRanker

        if self._pose_ranker is None:
            self._pose_ranker = PoseRanker.load(self.ranker)
        return self._pose_ranker

    def candidates(self, protein, ligand, *, reference=None, center=None, box=None, radius: float | None = None,
                   k: int | None = None, steps: int | None = None, sampler: str | None = None,
                   seed: int | None = None, name: str | None = None, progress: bool = False,
                   placements: list[np.ndarray] | None = None, conformers: Chem.Mol | None = None) -> Candidates:
        """Every pose :meth:`dock` chooses its ``k`` from (``2 k`` after a search), refined and
        Vina-scored but not ranked, with the pocket they were made in. ``placements``: heavy-atom
        placements to start from instead of sampled ones (e.g. to build a pose ranker's
        training set); ``conformers``: the ligand's conformers as
        :func:`~moldiff.docking.pose.embed_conformers` gave them for this docker and seed
        (embedded here when not given); the other arguments as :meth:`dock`."""
        from moldiff.data.protein import pocket_graph
        from moldiff.vina.scorer import vina_available

        given = {key: v for key, v in (("num_poses", k), ("steps", steps), ("sampler", sampler), ("seed", seed))
                 if v is not None}
        opts = resolve(DockOptions, self.options, **given)
        k, steps, sampler, seed = opts.num_poses, opts.steps, opts.sampler, opts.seed
        mol, where = _load_ligand(ligand, name)
        lig = prepare_ligand(mol, self.elements, where=where)
        prot, pocket, centre, size = read_site(protein, reference=reference, center=center, box=box,
                                               radius=self.model.radius if radius is None else radius)
        confs = embed_conformers(lig, self.conformers, seed=seed, where=where) if conformers is None else conformers
        if placements is not None:
            placements = [np.asarray(p, dtype=float) for p in placements]
        elif self.placement == "random":
            placements = random_placements(confs, centre, k, seed)
        else:
            placements = self.place(confs, pocket_graph(pocket), k=k, steps=steps, sampler=sampler, seed=seed,
                                    progress=progress)
        if not placements:
            raise RuntimeError("every sampled placement had non-finite coordinates")
        fitted = [fit_conformer(confs, p) for p in placements]
        poses = [p for p, _ in fitted]
        for pose, (_, fit) in zip(poses, fitted):
            pose.SetDoubleProp("fit_rmsd", fit)
        scores = [float("nan")] * len(poses)
        use_vina = self.refine or self.ranking != "fit"
        if use_vina and not vina_available():
            raise InputError("Vina refinement/ranking needs the eval extra (pip install 'moldiff[eval]'); "
                             "or use refine=false ranking=fit")
        if use_vina:
            scorer = _scorer(prot.path or protein, pocket, centre, box_size(confs) if size is None else size, seed)
            scorer.prepare_maps(poses)
            if self.refine and self.search_steps and self.ranking != "fit":  # its poses have no fit to rank by
                poses = self._search(scorer, confs, poses, 2 * k, seed, progress)
                scores = [float("nan")] * len(poses)
            rng = np.random.default_rng(seed)
            for i, pose in enumerate(progress_iter(list(poses), "refining" if self.refine else "scoring", "pose",
                                                   enabled=progress)):
                if not self.refine:
                    scores[i] = scorer.score(pose)[0]
                    continue
                before, after, moved = self._optimise(scorer, lig, pose)
                if moved is None:
                    continue
                for _ in range(0 if pose.HasProp("search_energy") else self.refine_steps):
                    _, trial_score, trial = self._optimise(scorer, lig, _perturb(moved, confs, rng))
                    if trial is not None and trial_score < after:
                        after, moved = trial_score, trial
                moved.SetDoubleProp("fit_rmsd", pose.GetDoubleProp("fit_rmsd"))
                if pose.HasProp("search_energy"):
                    moved.SetDoubleProp("search_energy", pose.GetDoubleProp("search_energy"))
                moved.SetDoubleProp("score_before_refinement", before)
                poses[i], scores[i] = moved, after
        return Candidates(poses, scores, pocket, centre, k, where)

    def _search(self, scorer, confs, poses, n, seed, progress=False):
        """The ``n`` lowest distinct poses of a Monte Carlo search started from ``poses``."""
        # gradients are needed even inside Lightning's predict loop (inference mode); the
        # search's tensors are small, where intra-op threads cost more than they give (far
        # more when other processes hold the cores)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._search_poses(scorer, confs, poses, n, seed, progress)
        finally:
            torch.set_num_threads(threads)

    def _search_poses(self, scorer, confs, poses, n, seed, progress=False):
        from moldiff.docking.search import PoseSearch

        with torch.inference_mode(False), torch.enable_grad():
            search = PoseSearch(poses[0], scorer.receptor, scorer.center, scorer.size, vina=scorer.vina,
                                conformers=[c.GetPositions() for c in confs.GetConformers()])
            start = torch.tensor(np.stack([p.GetConformer().GetPositions() for p in poses]))
            with Progress(self.search_steps, "searching", "move", enabled=progress) as bar:
                found, energies = search.run(start.repeat(self.search_chains, 1, 1), steps=self.search_steps,
                                             seed=seed, callback=lambda _: bar.update(1))
            found, energies = search.distinct(found, energies, n)
        out = []
        for x, e in zip(found.numpy(), energies.tolist()):
            pose = with_coordinates(poses[0], x)
            pose.SetDoubleProp("fit_rmsd", float("nan"))
            pose.SetDoubleProp("search_energy", e)
            out.append(pose)
        return out

    @staticmethod
    def _optimise(scorer, lig, pose):
        """(score before, score after, optimised pose in the input's atom order or None)."""
        before, after, optimised = scorer.optimize(pose)
        moved = None if optimised is None or np.isnan(after) else with_heavy_coordinates(lig, optimised)
        return before, after, moved


def random_placements(confs: Chem.Mol, centre, k: int, seed: int) -> list[np.ndarray]:
    """``k`` heavy-atom placements: a random conformer, uniformly random orientation, its centre
    uniformly within 2 Å of ``centre`` (the ablation baseline of the diffusion placement)."""
    from moldiff.docking.pose import heavy_indices
    from moldiff.geometry import random_rotations

    rng = np.random.default_rng(seed)
    heavy = heavy_indices(confs)
    out = []
    for _ in range(k):
        pos = confs.GetConformers()[int(rng.integers(confs.GetNumConformers()))].GetPositions()[heavy]
        q = random_rotations(1, generator=torch.Generator().manual_seed(int(rng.integers(2**31))))[0].numpy()
        shift = rng.normal(size=3)
        shift *= 2.0 * rng.uniform() ** (1 / 3) / np.linalg.norm(shift)
        out.append((pos - pos.mean(0)) @ q.T + np.asarray(centre) + shift)
    return out


def _perturb(pose: Chem.Mol, confs: Chem.Mol, rng: np.random.Generator) -> Chem.Mol:
    """A Monte Carlo trial: a random rigid move of ``pose`` (up to 2 Å, 45°) or, every
    other time, a random conformer of ``confs`` superposed on it (same atom order)."""
    from moldiff.docking.pose import heavy_indices, with_coordinates
    from moldiff.geometry import rotvec_to_matrix, superpose

    pos = pose.GetConformer().GetPositions()
    heavy = heavy_indices(pose)
    if rng.random() < 0.5 and confs.GetNumConformers() > 1:
        other = confs.GetConformers()[int(rng.integers(confs.GetNumConformers()))].GetPositions()
        new, _ = superpose(other, pos[heavy], heavy)
    else:
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        rot = rotvec_to_matrix(torch.as_tensor(rng.uniform(-np.pi / 4, np.pi / 4) * axis)[None])[0].numpy()
        centre = pos[heavy].mean(0)
        step = rng.normal(size=3)
        new = (pos - centre) @ rot.T + centre + 2.0 * rng.uniform() * step / np.linalg.norm(step)
    out = with_coordinates(pose, new)
    return out


#: seconds Vina's docking search may take for one ligand (exhaustiveness 8 takes 5-60 s here)
VINA_DOCK_SECONDS = 300.0


def vina_dock(protein, ligand, *, reference=None, center=None, box=None, radius: float = 10.0, k: int = 10,
              seed: int = 0, exhaustiveness: int = 8, conformers: int = 30, name: str | None = None,
              seconds: float | None = VINA_DOCK_SECONDS) -> DockingResult:
    """AutoDock Vina on the same inputs as :meth:`Docker.dock`: same site, same box, and the
    ligand started from the first of the same seeded RDKit conformers. Vina's search runs in a
    worker process given at most ``seconds`` (None: no bound); over it, :class:`InputError`
    says it timed out (an experiment records the complex as an error and goes on)."""
    from moldiff.vina.scorer import vina_available
    from moldiff.timebound import TIMED_OUT, map_bounded

    if not vina_available():
        raise InputError("the Vina baseline needs the eval extra: pip install 'moldiff[eval]'")
    start = time.perf_counter()
    resolve(DockOptions, num_poses=k, seed=seed, conformers=conformers)  # checked as for moldiff's docking
    mol, where = _load_ligand(ligand, name)
    lig = prepare_ligand(mol, DOCKING_ELEMENTS, where=where)
    prot, pocket, centre, size = read_site(protein, reference=reference, center=center, box=box, radius=radius)
    confs = embed_conformers(lig, conformers, seed=seed, where=where)
    first = Chem.Mol(confs, confId=confs.GetConformers()[0].GetId())
    scorer = _scorer(prot.path or protein, pocket, centre, box_size(confs) if size is None else size, seed)
    scorer.prepare_maps([first])
    found = map_bounded(lambda m: scorer.dock(m, exhaustiveness=exhaustiveness, n_poses=k), [first],
                        seconds=seconds)[0]
    if found is TIMED_OUT:
        raise InputError(f"{where}: Vina's docking search took over {seconds:g} s (timed out)")
    poses, scores = [], []
    for score, pose in found:
        moved = with_heavy_coordinates(lig, pose)
        if moved is not None:
            poses.append(moved)
            scores.append(score)
    if not poses:
        raise RuntimeError("Vina returned no pose that maps back onto the input ligand")
    return _finish(poses, scores, "vina", start, {"centre": centre.tolist()}, where if name is None else name)


def write_poses(result: DockingResult, path: str | Path) -> None:
    """Write the poses (best first, with their properties) to an SDF file atomically."""
    from moldiff.paths import atomic_path

    with atomic_path(path) as tmp:
        writer = Chem.SDWriter(str(tmp))
        try:
            for pose in result.poses:
                writer.write(pose)
        finally:
            writer.close()
