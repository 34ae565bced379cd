"""The learned pose ranker: invariance of its network, the candidate-set features, training
that learns a separable task, safe save/load, and docking ranked by it."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem

from moldiff.data.protein import read_protein, select_pocket
from moldiff.docking.pose_sets import PoseSet
from moldiff.docking.ranker import (POSE_FEATURES, PoseRanker, _network, evaluate_rankings, pose_features,
                                    train_ranker)
from moldiff.errors import InputError


def _rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.diag(r))  # a reflection where det < 0: the network must not care


@pytest.fixture(scope="module")
def site(shared_data):
    folder = shared_data / "smoke" / "pbw_1ia1"
    ligand = Chem.MolFromMolFile(str(folder / "ligand.sdf"))
    true = ligand.GetConformer().GetPositions()
    pocket = select_pocket(read_protein(folder / "protein.pdb"), ligand_pos=true, radius=10.0)
    return ligand, true, pocket


def _pose_set(site, seed: int, n: int = 8, *, informative_scores: bool = False) -> PoseSet:
    """Candidates: the true pose moved a little (correct) or pushed 4-8 Å away (decoys)."""
    ligand, true, pocket = site
    rng = np.random.default_rng(seed)
    pos, rmsd = [], []
    for k in range(n):
        shift = rng.normal(size=3)
        shift *= (rng.uniform(0.2, 0.8) if k % 2 == 0 else rng.uniform(4, 8)) / np.linalg.norm(shift)
        x = true + shift
        pos.append(x)
        rmsd.append(float(np.sqrt(((x - true) ** 2).sum(-1).mean())))
    scores = np.array(rmsd) if informative_scores else rng.normal(-7, 1, size=n)
    return PoseSet(f"s{seed}", ligand, np.stack(pos), scores, np.array(rmsd), pocket.pos, list(pocket.element))


def test_network_is_invariant_to_rigid_motions_reflections_and_pocket_order(site):
    ligand, true, pocket = site
    torch.manual_seed(0)
    settings = {"hidden": 32, "layers": 2, "cutoff": 6.0, "combined_weight": 1.0}
    ranker = PoseRanker(_network(settings), settings)
    s = _pose_set(site, 0)
    poses = [Chem.Mol(ligand) for _ in s.pos]
    for mol, x in zip(poses, s.pos):
        for j, xyz in enumerate(x):
            mol.GetConformer().SetAtomPosition(j, xyz.tolist())
    base = ranker.confidence(poses, s.score, (s.pocket_pos, s.pocket_element))
    rot, shift = _rotation(7), np.array([3.0, -20.0, 5.0])
    moved = [Chem.Mol(m) for m in poses]
    for m in moved:
        c = m.GetConformer()
        for j, xyz in enumerate(c.GetPositions() @ rot.T + shift):
            c.SetAtomPosition(j, xyz.tolist())
    order = np.random.default_rng(1).permutation(len(s.pocket_pos))
    other = ranker.confidence(moved, s.score, ((s.pocket_pos @ rot.T + shift)[order],
                                                [s.pocket_element[i] for i in order]))
    assert np.allclose(base, other, atol=1e-5)
    assert base.std() > 0  # it does look at the poses
    nan_scored = ranker.confidence(poses, np.r_[np.nan, s.score[1:]], (s.pocket_pos, s.pocket_element))
    assert nan_scored[0] == 0.0  # an unscored candidate is never preferred


def test_pose_features_measure_score_rank_and_agreement_within_the_set():
    x = np.zeros((4, 3, 3))
    x[1] += 0.5  # agrees with pose 0
    x[2] += 10.0
    x[3] += 20.0
    f = pose_features(x, np.array([-9.0, -8.0, -5.0, -10.0]))
    col = {name: f[:, k] for k, name in enumerate(POSE_FEATURES)}
    assert np.allclose(col["score_rank"], [1 / 3, 2 / 3, 1, 0])
    assert np.allclose(col["consensus"], [0.5, 0.5, 0.25, 0.25])
    assert col["boltzmann_consensus"][0] > col["boltzmann_consensus"][2]
    assert np.allclose(col["score_gap"], np.array([1, 2, 5, 0]) / 5)


def test_training_learns_to_rank_poses_in_the_pocket_above_poses_outside_it(site, tmp_path):
    """Scores carry no information here: only the complex network can tell the correct
    candidates (in the pocket) from the decoys (pushed out of it)."""
    train = [_pose_set(site, seed) for seed in range(6)]
    val = [_pose_set(site, seed) for seed in range(100, 104)]
    ranker, history = train_ranker(train, val, epochs=12, hidden=32, layers=2, seed=0, progress=False)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    result = evaluate_rankings(val, ranker)
    assert result["confidence"]["top1"] == 100.0
    assert result["vina"]["top1"] < 100.0  # random scores fail on some set
    path = ranker.save(tmp_path / "r.pt")
    again = PoseRanker.load(path)
    assert evaluate_rankings(val, again) == result
    with_set_features_only, _ = train_ranker(train, val, epochs=2, graph=False, progress=False)
    assert with_set_features_only.settings["layers"] == 0


def test_ranker_files_are_read_without_running_code(tmp_path):
    evil = tmp_path / "evil.pt"

    class Boom:
        def __reduce__(self):
            return (exec, ("open('%s', 'w').write('ran')" % (tmp_path / "ran.txt"),))

    torch.save({"format": "moldiff-pose-ranker", "x": Boom()}, evil)
    with pytest.raises(InputError):
        PoseRanker.load(evil)
    assert not (tmp_path / "ran.txt").exists()
    with pytest.raises(InputError, match="not found"):
        PoseRanker.load(tmp_path / "missing.pt")
    with pytest.raises(InputError, match="no shipped pose ranker"):
        PoseRanker.load("nonesuch")


@pytest.fixture(scope="module")
def tiny_ranker(site, tmp_path_factory):
    train = [_pose_set(site, seed) for seed in range(3)]
    ranker, _ = train_ranker(train, train, epochs=2, hidden=16, layers=1, progress=False)
    return ranker.save(tmp_path_factory.mktemp("ranker") / "ranker.pt")


@pytest.mark.parametrize("ranking", ["confidence", "combined"])
def test_docking_ranks_its_candidates_by_the_ranker(ranking, tiny_ranker, shared_data):
    import moldiff
    from moldiff.docking import Docker

    folder = shared_data / "smoke" / "pbw_1ia1"
    docker = Docker(moldiff.load("pocket"), conformers=4, search_steps=2, search_chains=1, ranking=ranking,
                    ranker=str(tiny_ranker))
    result = docker.dock(folder / "protein.pdb", folder / "ligand.sdf", reference=folder / "ligand.sdf", k=3,
                         steps=4, seed=1)
    assert len(result.poses) == 3
    confidence = [p.GetDoubleProp("confidence") for p in result.poses]
    assert all(0 <= c <= 1 for c in confidence)
    key = docker.pose_ranker().rank_key(confidence, result.scores, ranking)
    assert key == sorted(key)


def test_a_missing_ranker_fails_before_any_docking(tmp_path):
    import moldiff
    from moldiff.docking import Docker

    with pytest.raises(InputError, match="not found"):
        Docker(moldiff.load("pocket"), ranking="confidence", ranker=str(tmp_path / "none.pt"))


def test_the_shipped_ranker_loads_with_its_card_and_scores_candidates(site):
    ranker = PoseRanker.load("pose")
    assert ranker.card["name"] == "pose" and "posebusters_dev_100" in ranker.card
    assert set(ranker.settings) >= {"hidden", "layers", "cutoff", "combined_weight"}
    s = _pose_set(site, 5)
    ligand = site[0]
    poses = []
    for x in s.pos:
        mol = Chem.Mol(ligand)
        for j, xyz in enumerate(x):
            mol.GetConformer().SetAtomPosition(j, xyz.tolist())
        poses.append(mol)
    p = ranker.confidence(poses, s.score, (s.pocket_pos, s.pocket_element))
    assert p.shape == (len(poses),) and np.all((p > 0) & (p < 1))
