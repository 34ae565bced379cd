"""Property classifiers of EDM's conditional-generation protocol: train, save, load, score.

The protocol (Hoogeboom et al. 2022, Sec. 5.3; Satorras et al. 2021): QM9's training split
is cut in two halves (:func:`moldiff.data.qm9_properties.edm_half`); a property regressor
(:class:`~moldiff.nn.property_egnn.PropertyEGNN`, called "classifier" in the papers) learns
on the first half, the conditional generator on the second; generated molecules are scored
by the regressor, and the mean absolute error against the requested values is the metric.
Its reference lines come from the same regressor (:func:`reference_lines`):

* **lower bound** ("QM9"): its error on the second half's real molecules;
* **upper bound** ("naive"): the same with the property values shuffled among molecules;
* **#atoms**: the property predicted from the atom count alone (the first half's median per
  count, the best constant under absolute error).

    >>> clf = train_classifier("alpha", "runs/alpha_classifier", steps=20000)
    >>> clf = PropertyClassifier.load("runs/alpha_classifier/classifier.pt")
    >>> clf = PropertyClassifier.load("alpha")   # the shipped one (card: clf.card)
    >>> clf.predict(mols)          # (n, 1) Bohr^3, from RDKit molecules or Mol3D records
"""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

from moldiff.errors import InputError
from moldiff.paths import atomic_path
from moldiff.serialization import load_tensors, save_tensors

log = logging.getLogger(__name__)

FORMAT = "moldiff-property-classifier"
FORMAT_VERSION = 1


class PropertyClassifier:
    """A trained property regressor: network, element vocabulary, property names and the
    normalisation (mean, mean absolute deviation) of its training half.

    ``predict`` accepts RDKit molecules (3D conformer) or :class:`~moldiff.chem.Mol3D` records;
    ``predict_batch`` works on tensors. Values come out in the units of
    :data:`moldiff.data.qm9_properties.PROPERTIES`.
    """

    def __init__(self, network, elements, names, mean, mad, *, config: dict | None = None, card: dict | None = None):
        self.network = network.eval()
        self.elements, self.names = tuple(elements), tuple(names)
        self.mean = torch.as_tensor(mean, dtype=torch.float32)
        self.mad = torch.as_tensor(mad, dtype=torch.float32)
        self.config, self.card = dict(config or {}), dict(card or {})

    @torch.no_grad()
    def predict_batch(self, pos: torch.Tensor, atom_type: torch.Tensor, batch: torch.Tensor,
                      num_graphs: int | None = None) -> torch.Tensor:
        """(B, P) property values of a batch of molecules (positions in Å, any frame)."""
        out = self.network(pos.float(), atom_type.long(), batch.long(), num_graphs)
        return out * self.mad.to(out.device) + self.mean.to(out.device)

    def predict(self, mols, batch_size: int = 256) -> np.ndarray:
        """(n, P) predicted values of ``n`` molecules (RDKit with a conformer, or Mol3D); a
        molecule with an element outside the vocabulary raises :class:`InputError`."""
        code = {e: i for i, e in enumerate(self.elements)}
        records = [_symbols_and_positions(m) for m in mols]
        out = []
        for lo in range(0, len(records), batch_size):
            chunk = records[lo:lo + batch_size]
            types, pos, batch = [], [], []
            for b, (symbols, xyz) in enumerate(chunk):
                missing = sorted(set(symbols) - set(code))
                if missing:
                    raise InputError(f"molecule {lo + b}: element(s) {', '.join(missing)} outside the "
                                     f"classifier's vocabulary {', '.join(self.elements)}")
                types.extend(code[s] for s in symbols)
                pos.append(np.asarray(xyz, dtype=np.float32))
                batch.extend([b] * len(symbols))
            if not chunk:
                continue
            out.append(self.predict_batch(torch.from_numpy(np.concatenate(pos)), torch.tensor(types),
                                          torch.tensor(batch), len(chunk)).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.names)), dtype=np.float32)

    # --- files ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "elements": list(self.elements),
                "names": list(self.names), "mean": self.mean, "mad": self.mad, "config": self.config,
                "card": self.card, "state_dict": self.network.state_dict()}

    def save(self, path: str | Path) -> Path:
        return save_tensors(self.to_dict(), path)

    @classmethod
    def from_dict(cls, blob: dict, where: str = "classifier") -> PropertyClassifier:
        from moldiff.nn.property_egnn import PropertyEGNN

        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise InputError(f"{where}: not a moldiff property classifier")
        if blob.get("format_version", 0) > FORMAT_VERSION:
            raise InputError(f"{where}: written by a newer moldiff (format {blob['format_version']})")
        cfg = blob["config"]
        network = PropertyEGNN(len(blob["elements"]), len(blob["names"]), hidden=cfg["hidden"],
                               layers=cfg["layers"], cutoff=cfg.get("cutoff"))
        try:
            network.load_state_dict(blob["state_dict"])
        except RuntimeError as exc:
            raise InputError(f"{where}: weights do not match the stored config ({str(exc).splitlines()[0]})") from exc
        return cls(network, blob["elements"], blob["names"], blob["mean"], blob["mad"], config=cfg,
                   card=blob.get("card"))

    @classmethod
    def load(cls, path: str | Path) -> PropertyClassifier:
        """Read a classifier file (tensors and plain data only: never runs code), or the shipped
        classifier of that property name (``"alpha"``; :data:`moldiff.pretrained.CLASSIFIERS`)."""
        from moldiff import pretrained

        p = Path(path)
        if not p.is_file() and not p.suffix and len(p.parts) == 1:  # a name, not a file
            path = pretrained.classifier_path(str(path))
        return cls.from_dict(load_tensors(path, "property classifier"), str(path))


def _symbols_and_positions(mol):
    if hasattr(mol, "symbols") and hasattr(mol, "pos"):  # Mol3D
        return list(mol.symbols), np.asarray(mol.pos)
    if mol is None:
        raise InputError("a molecule is None (an invalid sample?): score valid molecules only")
    if mol.GetNumConformers() == 0:
        raise InputError("a molecule has no 3D conformer")
    return [a.GetSymbol() for a in mol.GetAtoms()], mol.GetConformer().GetPositions()


# --- training --------------------------------------------------------------------------
def _batches(dataset, batch_size: int, generator: torch.Generator, shuffle: bool = True):
    order = torch.randperm(len(dataset), generator=generator) if shuffle else torch.arange(len(dataset))
    for lo in range(0, len(order), batch_size):
        yield dataset.collate(order[lo:lo + batch_size].numpy(), center=True)


def _mae(network, dataset, mean, mad, batch_size: int = 512) -> torch.Tensor:
    network.eval()
    err, count = 0.0, 0
    with torch.no_grad():
        for b in _batches(dataset, batch_size, None, shuffle=False):
            pred = network(b.pos, b.atom_type, b.batch, b.num_graphs) * mad + mean
            err = err + (pred - b.y).abs().sum(0)
            count += b.num_graphs
    network.train()
    return err / count


def train_classifier(properties, out: str | Path, *, steps: int = 20000, batch_size: int = 128, lr: float = 1e-3,
                     hidden: int = 128, layers: int = 7, cutoff: float | None = None, seed: int = 0,
                     limit: int | None = None, val_limit: int | None = 5000, val_every: int = 1000,
                     cache: str | Path | None = None, progress: bool = True, max_minutes: float | None = None,
                     ) -> PropertyClassifier:
    """Train a property regressor on the first half of QM9's training split (EDM's protocol).

    Adam, L1 loss on the property normalised by the half's mean and mean absolute deviation,
    cosine learning-rate decay over ``steps`` (EDM's classifier recipe). The weights with the
    lowest validation MAE (QM9 validation split, first ``val_limit`` molecules, every
    ``val_every`` steps) are kept in ``out/classifier.pt``; ``out/last.pt`` holds the run's
    state, and a rerun with the same ``out`` continues from it (kill -9 loses at most
    ``val_every`` steps). ``max_minutes`` stops early (the run can be continued later).

    Returns the best classifier so far.
    """
    from moldiff.data.qm9 import QM9_ELEMENTS, QM9Dataset
    from moldiff.data.qm9_properties import check_properties, mean_mad, unit
    from moldiff.nn.property_egnn import PropertyEGNN
    from moldiff.progress import Progress

    names = check_properties([properties] if isinstance(properties, str) else properties)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train = QM9Dataset("train", half="first", properties=names, limit=limit, cache=cache)
    val = QM9Dataset("val", properties=names, limit=val_limit, cache=cache)
    mean, mad = (v.float() for v in mean_mad(train.y[torch.as_tensor(train.rows)]))
    config = {"properties": list(names), "hidden": hidden, "layers": layers, "cutoff": cutoff, "steps": steps,
              "batch_size": batch_size, "lr": lr, "seed": seed, "limit": limit, "half": "first"}
    torch.manual_seed(seed)
    network = PropertyEGNN(len(QM9_ELEMENTS), len(names), hidden=hidden, layers=layers, cutoff=cutoff)
    opt = torch.optim.Adam(network.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0))))
    step, best, history = 0, float("inf"), []
    state_path = out / "last.pt"
    if state_path.is_file():
        state = load_tensors(state_path, "classifier training state")
        if state.get("config") != config:
            raise InputError(f"{state_path}: a run with other settings; use another output folder")
        network.load_state_dict(state["network"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, best, history = int(state["step"]), float(state["best"]), list(state["history"])
        log.info("continuing %s at step %d", out, step)
    gen = torch.Generator().manual_seed(seed + step)
    start = time.monotonic()
    bar = Progress(steps, f"classifier {', '.join(names)}", "step", enabled=progress)
    bar.update(step)
    network.train()
    with bar:
        while step < steps:
            for b in _batches(train, batch_size, gen):
                pred = network(b.pos, b.atom_type, b.batch, b.num_graphs)
                loss = ((pred - (b.y - mean) / mad).abs()).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                bar.update(1)
                stop = max_minutes is not None and time.monotonic() - start > 60 * max_minutes
                if step % val_every == 0 or step == steps or stop:
                    mae = _mae(network, val, mean, mad)
                    history.append({"step": step, "val_mae": mae.tolist()})
                    bar.set_postfix("val MAE " + " ".join(f"{v:.3g}" for v in mae.tolist()))
                    score = float((mae / mad).mean())
                    if score < best:
                        best = score
                        PropertyClassifier(network, QM9_ELEMENTS, names, mean, mad, config=config, card={
                            "val_mae": dict(zip(names, mae.tolist())), "units": {n: unit(n) for n in names},
                            "step": step, "trained_on": "QM9 training split, first half (EDM protocol)",
                        }).save(out / "classifier.pt")
                    with atomic_path(state_path) as tmp:
                        torch.save({"config": config, "network": network.state_dict(), "optimizer": opt.state_dict(),
                                    "scheduler": sched.state_dict(), "step": step, "best": best,
                                    "history": history}, tmp)
                    (out / "history.json").write_text(json.dumps(history, indent=1))
                if step >= steps or stop:
                    break
            if max_minutes is not None and time.monotonic() - start > 60 * max_minutes:
                break
    return PropertyClassifier.load(out / "classifier.pt")


# --- the protocol's reference lines ------------------------------------------------------
def reference_lines(classifier: PropertyClassifier, *, limit: int | None = None, seed: int = 0,
                    cache: str | Path | None = None) -> dict:
    """The protocol's reference MAEs for each of the classifier's properties, measured on the
    second half of the training split (``limit``: its first molecules): ``lower_bound`` (the
    classifier on real molecules), ``upper_bound`` (values shuffled among them, seeded) and
    ``atoms_only`` (the first half's median value per atom count)."""
    from moldiff.data.qm9 import QM9Dataset

    names = classifier.names
    second = QM9Dataset("train", half="second", properties=names, limit=limit, cache=cache)
    first = QM9Dataset("train", half="first", properties=names, cache=cache)
    y2 = second.y[torch.as_tensor(second.rows)]
    pred = []
    for b in _batches(second, 512, None, shuffle=False):
        pred.append(classifier.predict_batch(b.pos, b.atom_type, b.batch, b.num_graphs))
    pred = torch.cat(pred)
    perm = torch.randperm(len(y2), generator=torch.Generator().manual_seed(seed))
    n1 = first.arrays.num_atoms[torch.as_tensor(first.rows)]
    n2 = second.arrays.num_atoms[torch.as_tensor(second.rows)]
    y1 = first.y[torch.as_tensor(first.rows)]
    overall = y1.median(0).values
    by_count = torch.stack([y1[n1 == k].median(0).values if (n1 == k).any() else overall
                            for k in range(int(max(n1.max(), n2.max())) + 1)])
    lines = {}
    for j, name in enumerate(names):
        lines[name] = {
            "lower_bound": float((pred[:, j] - y2[:, j]).abs().mean()),
            "upper_bound": float((pred[perm, j] - y2[:, j]).abs().mean()),
            "atoms_only": float((by_count[n2, j] - y2[:, j]).abs().mean()),
            "molecules": len(y2),
        }
    return lines


def conditional_mae(model, classifier: PropertyClassifier, mols3d) -> dict:
    """The protocol's metric: mean absolute error between the values each molecule was asked
    for (its ``moldiff_condition_<name>`` property, set by a conditional model's sampler) and
    the classifier's prediction, per property, over every generated molecule (numerical
    failures, ``None``, are counted in ``failed`` and left out)."""
    names = [n for n in model.condition_names]
    missing = [n for n in names if n not in classifier.names]
    if missing:
        raise InputError(f"the classifier predicts {', '.join(classifier.names)}, not {', '.join(missing)}")
    kept = [m for m in mols3d if m is not None]
    if not kept:
        raise InputError("no molecules to score")
    pred = classifier.predict(kept)
    out = {"n": len(kept), "failed": len(mols3d) - len(kept)}
    for name in names:
        want = np.array([m.props[f"moldiff_condition_{name}"] for m in kept])
        out[f"mae_{name}"] = float(np.abs(pred[:, classifier.names.index(name)] - want).mean())
    return out
