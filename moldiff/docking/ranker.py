"""The learned pose ranker (confidence model) of ``moldiff dock``: train, save, load, rank.

Docking's search returns ``2 K`` refined candidates per ligand (:meth:`Docker.candidates
<moldiff.docking.dock.Docker.candidates>`); Vina's score ranks them by default, and the best
of them is often not the one it ranks first. The ranker predicts, for each candidate, the
probability that it lies within 2 A (heavy-atom RMSD, symmetry-corrected) of the true pose,
from two kinds of evidence:

* the **complex**: an invariant network over the ligand and the pocket atoms around it
  (:class:`~moldiff.nn.pose_ranker.PoseRankerNet`), as GNINA's CNN rescoring and DiffDock's
  confidence model read the pose itself (McNutt et al. 2021, J. Cheminform. 13:43; Corso et
  al. 2023, ICLR, "DiffDock", Sec. 3.4);
* the **candidate set** (:func:`pose_features`): the Vina score, its gap to the set's best and
  its rank, the score per heavy atom, and how many of the other candidates -- weighted by
  their Boltzmann factor at Vina's Monte Carlo temperature -- lie within 2 A of this one
  (poses that many independent search chains converge to are more often right: the
  consensus argument of pose clustering).

Trained on pose sets of complexes we may train on (:mod:`moldiff.docking.pose_sets`:
``fep_benchmark`` targets of the training split) with binary cross-entropy plus a listwise
term (softmax over one set's candidates against its share of correct poses, which is what
top-1 selection rewards); the epoch and the weight of the ``combined`` ranking (Vina score
minus ``w`` times the logit) are chosen on the validation targets.

    >>> ranker = PoseRanker.load("pose")                     # shipped (card: ranker.card)
    >>> p = ranker.confidence(poses, scores, pocket)         # (P,) probabilities
    >>> key = ranker.rank_key(p, scores, "combined")         # lower ranks first
"""
from __future__ import annotations

import copy
import logging
import math
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem

from moldiff.errors import InputError
from moldiff.serialization import load_tensors, save_tensors

log = logging.getLogger(__name__)

FORMAT = "moldiff-pose-ranker"
FORMAT_VERSION = 1

#: ligand element vocabulary (last: any other)
LIGAND_ELEMENTS = ("C", "N", "O", "S", "F", "Cl", "Br", "I", "P", "B", "other")
#: pocket element vocabulary (metal: any metal ion; last: any other)
POCKET_ELEMENTS = ("C", "N", "O", "S", "metal", "other")
_METALS = {"Zn", "Mg", "Mn", "Fe", "Ca", "Co", "Cu", "Ni", "Na", "K", "Cd", "Hg"}
#: edge kinds: ligand bonds by order, ligand non-bonded pairs, ligand->pocket, pocket->ligand
EDGE_KINDS = ("single", "double", "triple", "aromatic", "ligand", "to_pocket", "from_pocket")
_BOND_KIND = {Chem.BondType.SINGLE: 0, Chem.BondType.DOUBLE: 1, Chem.BondType.TRIPLE: 2, Chem.BondType.AROMATIC: 3}
NODE_DIM = 1 + len(LIGAND_ELEMENTS) + 2 + 4 + 4 + 3 + len(POCKET_ELEMENTS)
#: the per-pose features of :func:`pose_features`, in order
POSE_FEATURES = ("score", "score_gap", "score_rank", "score_per_atom", "boltzmann_consensus",
                 "consensus", "top3_agree", "heavy_atoms")
#: kcal/mol, the Boltzmann weights' temperature (Vina's Monte Carlo temperature)
TEMPERATURE = 1.2
#: Å, the RMSD under which two candidates agree and a pose counts as correct
SUCCESS_RMSD = 2.0


def ligand_node_features(mol: Chem.Mol) -> np.ndarray:
    """(N, NODE_DIM) features of the heavy atoms of ``mol`` (element, aromatic, ring, heavy
    degree 1-4+, hydrogens 0-3+, formal charge -/0/+)."""
    out = np.zeros((mol.GetNumAtoms(), NODE_DIM), dtype=np.float32)
    for atom in mol.GetAtoms():
        i, row = atom.GetIdx(), out[atom.GetIdx()]
        row[0] = 1.0
        sym = atom.GetSymbol()
        row[1 + (LIGAND_ELEMENTS.index(sym) if sym in LIGAND_ELEMENTS else len(LIGAND_ELEMENTS) - 1)] = 1
        base = 1 + len(LIGAND_ELEMENTS)
        row[base] = atom.GetIsAromatic()
        row[base + 1] = atom.IsInRing()
        row[base + 2 + min(max(atom.GetDegree(), 1), 4) - 1] = 1
        row[base + 6 + min(atom.GetTotalNumHs(), 3)] = 1
        row[base + 10 + int(np.sign(atom.GetFormalCharge())) + 1] = 1
    return out


def pocket_node_features(elements) -> np.ndarray:
    out = np.zeros((len(elements), NODE_DIM), dtype=np.float32)
    base = NODE_DIM - len(POCKET_ELEMENTS)
    for i, e in enumerate(elements):
        k = POCKET_ELEMENTS.index(e) if e in POCKET_ELEMENTS[:4] else (4 if e in _METALS else 5)
        out[i, base + k] = 1
    return out


def pose_features(pos: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(P, len(POSE_FEATURES)) features of each of P candidates ``pos`` (P, N, 3) of one
    ligand with Vina ``scores`` (P,) (all finite), relative to the whole set."""
    p, n = pos.shape[:2]
    scores = np.asarray(scores, dtype=np.float64)
    rmsd = np.sqrt(((pos[:, None] - pos[None]) ** 2).sum(-1).mean(-1))
    close = rmsd < SUCCESS_RMSD
    weight = np.exp(-(scores - scores.min()) / TEMPERATURE)
    rank = scores.argsort().argsort()
    top3 = scores.argsort()[:3]
    out = np.stack([
        scores / 10.0,
        (scores - scores.min()) / 5.0,
        rank / max(p - 1, 1),
        scores / n,
        (close * weight[None]).sum(1) / weight.sum(),
        close.mean(1),
        close[:, top3].mean(1),
        np.full(p, n / 50.0),
    ], 1)
    return out.astype(np.float32)


def complex_graphs(ligand: Chem.Mol, pos: np.ndarray, pocket_pos: np.ndarray, pocket_elements,
                   cutoff: float = 6.0) -> list[dict]:
    """One graph per candidate (``pos`` (P, N, 3), ligand heavy-atom order): ligand atoms
    then the pocket atoms within ``cutoff`` of any ligand atom; edges as in
    :class:`~moldiff.nn.pose_ranker.PoseRankerNet`."""
    n = ligand.GetNumAtoms()
    lig_x = ligand_node_features(ligand)
    pocket_x = pocket_node_features(pocket_elements)
    bond = -np.ones((n, n), dtype=np.int64)
    for b in ligand.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        bond[i, j] = bond[j, i] = _BOND_KIND.get(b.GetBondType(), 0)
    ii, jj = np.where(~np.eye(n, dtype=bool))
    out = []
    pocket_pos = np.asarray(pocket_pos, dtype=np.float64)
    for x in pos:
        d_lig = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
        keep = (d_lig[ii, jj] < cutoff) | (bond[ii, jj] >= 0)
        li, lj = ii[keep], jj[keep]
        lkind = np.where(bond[li, lj] >= 0, bond[li, lj], 4)
        d_lp = np.sqrt(((x[:, None] - pocket_pos[None]) ** 2).sum(-1)) if len(pocket_pos) else np.zeros((n, 0))
        near = np.where((d_lp < cutoff).any(0))[0]
        a, b = np.where(d_lp[:, near] < cutoff)
        pb = n + b  # pocket node index
        src = np.concatenate([li, a, pb])
        dst = np.concatenate([lj, pb, a])
        kind = np.concatenate([lkind, np.full(len(a), 5), np.full(len(a), 6)])
        length = np.concatenate([d_lig[li, lj], d_lp[a, near[b]], d_lp[a, near[b]]])
        out.append({"x": np.concatenate([lig_x, pocket_x[near]]), "edge_index": np.stack([src, dst]),
                    "edge_kind": kind, "edge_length": length.astype(np.float32), "num_ligand": n})
    return out


class _Encoded:
    """The tensors of many candidate sets, ready for batching by set."""

    def __init__(self, sets, cutoff: float):
        self.items = []
        for s in sets:
            self.items.append({"graphs": complex_graphs(s.ligand, s.pos, s.pocket_pos, s.pocket_element, cutoff),
                               "features": pose_features(s.pos, s.score),
                               "label": (np.asarray(s.rmsd) < SUCCESS_RMSD).astype(np.float32)})

    def batch(self, which) -> tuple[dict, torch.Tensor, torch.Tensor]:
        """(network inputs, labels (P,), set index of each pose (P,)) of the sets ``which``."""
        xs, eis, kinds, lengths, lig, batch, feats, labels, group = [], [], [], [], [], [], [], [], []
        offset, pose = 0, 0
        for g_idx, k in enumerate(which):
            item = self.items[k]
            for g in item["graphs"]:
                m = len(g["x"])
                xs.append(g["x"])
                eis.append(g["edge_index"] + offset)
                kinds.append(g["edge_kind"])
                lengths.append(g["edge_length"])
                mask = np.zeros(m, dtype=bool)
                mask[:g["num_ligand"]] = True
                lig.append(mask)
                batch.append(np.full(m, pose))
                offset += m
                pose += 1
            feats.append(item["features"])
            labels.append(item["label"])
            group.append(np.full(len(item["label"]), g_idx))
        inputs = {"x": torch.as_tensor(np.concatenate(xs)), "edge_index": torch.as_tensor(np.concatenate(eis, 1)),
                  "edge_kind": torch.as_tensor(np.concatenate(kinds)),
                  "edge_length": torch.as_tensor(np.concatenate(lengths)),
                  "ligand": torch.as_tensor(np.concatenate(lig)), "batch": torch.as_tensor(np.concatenate(batch)),
                  "pose_features": torch.as_tensor(np.concatenate(feats))}
        return inputs, torch.as_tensor(np.concatenate(labels)), torch.as_tensor(np.concatenate(group))


class PoseRanker:
    """A trained pose ranker: network, its settings and card.

    ``confidence`` scores the candidates of one docking; ``rank_key`` turns confidences and
    Vina scores into the key ``moldiff dock`` sorts by (``ranking``: ``confidence`` or
    ``combined``)."""

    def __init__(self, network, settings: dict, card: dict | None = None):
        self.network = network.eval()
        self.settings, self.card = dict(settings), dict(card or {})

    @torch.no_grad()
    def logits_of(self, encoded: _Encoded, k: int) -> np.ndarray:
        inputs, _, _ = encoded.batch([k])
        return self.network(**inputs).numpy()

    @torch.no_grad()
    def set_logits(self, sets, *, encoded: _Encoded | None = None) -> list[np.ndarray]:
        """The logits of every candidate of every pose set (one (P_k,) array per set);
        ``encoded``: the sets' graphs, when already built."""
        return _all_logits(self, _Encoded(sets, self.settings["cutoff"]) if encoded is None else encoded)

    @torch.no_grad()
    def confidence(self, poses, scores, pocket) -> np.ndarray:
        """(P,) probability that each candidate is within 2 A of the true pose. ``poses``:
        RDKit molecules of one ligand (same atom order), ``scores``: their Vina scores (NaN:
        unscored, confidence 0), ``pocket``: a :class:`~moldiff.data.protein.Protein` or a
        ``(positions (M, 3), elements)`` pair."""
        from types import SimpleNamespace

        from moldiff.docking.pose import heavy_indices

        scores = np.asarray(scores, dtype=np.float64)
        ok = np.isfinite(scores)
        out = np.zeros(len(poses))
        if not ok.any():
            return out
        kept = [p for p, o in zip(poses, ok) if o]
        pos = np.stack([p.GetConformer().GetPositions()[heavy_indices(p)] for p in kept])
        pocket_pos, elements = (pocket.pos, list(pocket.element)) if hasattr(pocket, "pos") else pocket
        s = SimpleNamespace(ligand=Chem.RemoveAllHs(kept[0]), pos=pos, score=scores[ok],
                            rmsd=np.full(ok.sum(), np.nan), pocket_pos=np.asarray(pocket_pos), pocket_element=[str(e) for e in elements])
        logits = self.logits_of(_Encoded([s], self.settings["cutoff"]), 0)
        out[ok] = 1.0 / (1.0 + np.exp(-logits))
        return out

    def rank_key(self, confidence, scores, ranking: str = "confidence") -> list[float]:
        """Sort key per candidate, lower first (NaN last): ``-confidence``, or for
        ``combined`` the Vina score minus ``combined_weight`` x the confidence's logit."""
        c = np.clip(np.asarray(confidence, dtype=np.float64), 1e-6, 1 - 1e-6)
        scores = np.asarray(scores, dtype=np.float64)
        if ranking == "confidence":
            key = np.where(np.isfinite(scores), -c, np.nan)
        elif ranking == "combined":
            key = scores - self.settings["combined_weight"] * np.log(c / (1 - c))
        else:
            raise InputError(f"ranking {ranking!r}: the ranker ranks by 'confidence' or 'combined'")
        return key.tolist()

    def to_dict(self) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "settings": self.settings, "card": self.card,
                "state_dict": self.network.state_dict()}

    def save(self, path: str | Path) -> Path:
        return save_tensors(self.to_dict(), path)

    @classmethod
    def from_dict(cls, blob: dict, where: str = "pose ranker") -> PoseRanker:
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise InputError(f"{where}: not a moldiff pose ranker")
        if blob.get("format_version", 0) > FORMAT_VERSION:
            raise InputError(f"{where}: written by a newer moldiff (format {blob['format_version']})")
        network = _network(blob["settings"])
        try:
            network.load_state_dict(blob["state_dict"])
        except RuntimeError as exc:
            raise InputError(f"{where}: weights do not match the stored settings ({str(exc).splitlines()[0]})") from exc
        return cls(network, blob["settings"], blob.get("card"))

    @classmethod
    def load(cls, path: str | Path = "pose") -> PoseRanker:
        """Read a ranker file (tensors and plain data only: never runs code), or the shipped
        ranker by name (``"pose"``)."""
        from moldiff import pretrained

        p = Path(path)
        if not p.is_file() and not p.suffix and len(p.parts) == 1:
            path = pretrained.ranker_path(str(path))
        elif not p.is_file():
            raise InputError(f"{path}: pose ranker file not found")
        return cls.from_dict(load_tensors(path, "pose ranker"), str(path))


def _network(settings: dict):
    from moldiff.nn.pose_ranker import PoseRankerNet

    return PoseRankerNet(NODE_DIM, len(EDGE_KINDS), len(POSE_FEATURES), hidden=settings["hidden"],
                         layers=settings["layers"], cutoff=settings["cutoff"])


@torch.no_grad()
def _all_logits(ranker: PoseRanker, encoded: _Encoded, sets_per_batch: int = 32) -> list[np.ndarray]:
    """Logits of every set of ``encoded``, a list of (P_k,) arrays."""
    out = []
    for lo in range(0, len(encoded.items), sets_per_batch):
        which = range(lo, min(lo + sets_per_batch, len(encoded.items)))
        inputs, _, group = encoded.batch(which)
        logits = ranker.network(**inputs).numpy()
        out.extend(logits[group.numpy() == g] for g in range(len(which)))
    return out


def _top_success(rmsd, key, k=1) -> float:
    key = np.where(np.isfinite(key), key, np.inf)
    order = np.argsort(key, kind="stable")[:k]
    return float((np.asarray(rmsd)[order] < SUCCESS_RMSD).any())


def _top1_rmsd(rmsd, key) -> float:
    key = np.where(np.isfinite(key), key, np.inf)
    return float(np.asarray(rmsd)[np.argsort(key, kind="stable")[0]])


def evaluate_rankings(sets, ranker: PoseRanker | None = None, *, encoded: _Encoded | None = None,
                      logits: list[np.ndarray] | None = None) -> dict:
    """Share of sets whose top-1 / top-3 candidate is within 2 A and the median RMSD of the
    top-1, ranked by Vina, by the ranker's confidence and combined (with ``ranker``), and the
    best any ranking could do (``oracle``: a correct candidate exists; its RMSD: the set's
    lowest). ``encoded``: the sets' graphs, when already built; ``logits``: the ranker's
    (:meth:`PoseRanker.set_logits`), when already computed."""
    rows = {"vina": [], "oracle": []}
    if ranker is not None:
        rows.update(confidence=[], combined=[])
        if logits is None:
            logits = ranker.set_logits(sets, encoded=encoded)
    for k, s in enumerate(sets):
        rows["vina"].append((_top_success(s.rmsd, s.score), _top_success(s.rmsd, s.score, 3),
                             _top1_rmsd(s.rmsd, s.score)))
        rows["oracle"].append((float((s.rmsd < SUCCESS_RMSD).any()),) * 2 + (float(np.min(s.rmsd)),))
        if ranker is not None:
            prob = 1 / (1 + np.exp(-logits[k]))
            for name in ("confidence", "combined"):
                key = np.asarray(ranker.rank_key(prob, s.score, name))
                rows[name].append((_top_success(s.rmsd, key), _top_success(s.rmsd, key, 3),
                                   _top1_rmsd(s.rmsd, key)))
    return {name: {"top1": round(100 * float(np.mean([r[0] for r in v])), 1),
                   "top3": round(100 * float(np.mean([r[1] for r in v])), 1),
                   "median_top1_rmsd": round(float(np.median([r[2] for r in v])), 2), "n": len(v)}
            for name, v in rows.items()}


def train_ranker(train_sets, val_sets, *, epochs: int = 30, hidden: int = 64, layers: int = 2,
                 cutoff: float = 5.0, lr: float = 1e-3, sets_per_batch: int = 8, listwise: float = 1.0,
                 graph: bool = True, seed: int = 0, progress: bool = True) -> tuple[PoseRanker, list[dict]]:
    """Train a ranker on ``train_sets`` (pose sets); keep the epoch with the best top-1
    success on ``val_sets`` (ties: lower validation loss), then choose the ``combined``
    weight on them. ``graph=False``: the pose-set features alone (no complex network).
    Returns ``(ranker, per-epoch history)``."""
    from moldiff.progress import Progress

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    settings = {"hidden": hidden, "layers": layers if graph else 0, "cutoff": cutoff, "combined_weight": 1.0,
                "pose_features": list(POSE_FEATURES), "success_rmsd": SUCCESS_RMSD}
    network = _network(settings)
    train, val = _Encoded(train_sets, cutoff), _Encoded(val_sets, cutoff)
    opt = torch.optim.AdamW(network.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    history, best = [], None
    with Progress(epochs, "training ranker", "epoch", enabled=progress) as bar:
        for epoch in range(epochs):
            network.train()
            order = rng.permutation(len(train.items))
            total = 0.0
            for lo in range(0, len(order), sets_per_batch):
                inputs, y, group = train.batch(order[lo:lo + sets_per_batch])
                loss = _loss(network(**inputs), y, group, listwise)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(order[lo:lo + sets_per_batch])
            sched.step()
            network.eval()
            ranker = PoseRanker(network, settings)
            with torch.no_grad():
                losses = []
                for lo in range(0, len(val.items), 32):
                    which = range(lo, min(lo + 32, len(val.items)))
                    inputs, y, group = val.batch(which)
                    losses.append(float(_loss(network(**inputs), y, group, listwise)) * len(which))
                val_loss = sum(losses) / len(val.items)
            top1 = evaluate_rankings(val_sets, ranker, encoded=val)["confidence"]["top1"]
            history.append({"epoch": epoch + 1, "train_loss": round(total / len(order), 4),
                            "val_loss": round(val_loss, 4), "val_top1": top1})
            log.info("epoch %d: train loss %.4f, validation loss %.4f, validation top-1 %.1f %%",
                     epoch + 1, history[-1]["train_loss"], val_loss, top1)
            if best is None or (top1, -val_loss) > (best[0], -best[1]):
                best = (top1, val_loss, copy.deepcopy(network.state_dict()), epoch + 1)
            bar.update(1)
    network.load_state_dict(best[2])
    settings["epoch"] = best[3]
    ranker = PoseRanker(network.eval(), settings)
    choices = {}
    for w in (0.25, 0.5, 1.0, 2.0, 4.0):
        ranker.settings["combined_weight"] = w
        choices[w] = evaluate_rankings(val_sets, ranker, encoded=val)["combined"]["top1"]
    ranker.settings["combined_weight"] = max(choices, key=lambda w: (choices[w], -abs(math.log(w))))
    ranker.settings["combined_weight_val_top1"] = {str(k): v for k, v in choices.items()}
    return ranker, history


def _loss(logits, y, group, listwise: float):
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
    if not listwise:
        return bce
    terms = []
    for g in torch.unique(group):
        m = group == g
        if y[m].sum() > 0:
            target = y[m] / y[m].sum()
            terms.append(-(target * torch.log_softmax(logits[m], 0)).sum())
    return bce + listwise * (torch.stack(terms).mean() if terms else logits.sum() * 0)
