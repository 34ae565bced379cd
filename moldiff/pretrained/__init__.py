"""Trained models shipped inside the package (package data; no network needed).

Each model is a stripped moldiff checkpoint (``<name>.pt``: EMA weights, resolved config,
atom-count histogram) with a model card beside it (``<name>.json``: data, split,
architecture, training hardware and time, sampler, measured metrics and how they were
measured). ``moldiff.load()`` with no argument loads :data:`DEFAULT`.
"""
from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

#: name -> file stem inside this package
MODELS = {"qm9": "qm9_egnn", "pocket": "pocket_egnn", "pocket_design": "pocket_design_egnn"}
#: property classifiers of EDM's protocol (:class:`moldiff.property_classifier.PropertyClassifier`): name -> stem
#: (one network predicts gap, homo, lumo, mu and Cv together; loading any of those names gives it)
CLASSIFIERS = {"alpha": "classifier_alpha", **{k: "classifier_qm9" for k in ("gap", "homo", "lumo", "mu", "Cv")}}
#: pose rankers of ``moldiff dock`` (:class:`moldiff.docking.ranker.PoseRanker`): name -> stem
RANKERS = {"pose": "pose_ranker"}
#: the pocket model ``moldiff design`` / :func:`moldiff.design` use ("pocket" places ligands for docking)
DESIGN = "pocket_design"
DEFAULT = "qm9"


def _root() -> Path:
    return Path(str(files(__name__)))


def names() -> list[str]:
    """Names of the shipped models."""
    return sorted(MODELS)


def model_path(name: str = DEFAULT) -> Path:
    """Path of the shipped model ``name`` (raises :class:`~moldiff.errors.InputError` if unknown or missing)."""
    from moldiff.errors import InputError

    if name not in MODELS:
        raise InputError(f"unknown shipped model {name!r}; available: {', '.join(names())}")
    path = _root() / f"{MODELS[name]}.pt"
    if not path.is_file():
        raise InputError(f"shipped model {name!r} is missing from this installation ({path}); reinstall moldiff")
    return path


def model_card(name: str = DEFAULT) -> dict:
    """The model card of a shipped model (an empty dict if the card is missing)."""
    path = model_path(name).with_suffix(".json")
    return json.loads(path.read_text()) if path.is_file() else {}


def _shipped(table: dict, name: str, what: str) -> Path:
    """Path of the shipped file of ``name`` in ``table`` (name -> stem); :class:`InputError`
    naming ``what`` if the name is unknown or the file missing."""
    from moldiff.errors import InputError

    if name not in table:
        raise InputError(f"no shipped {what} {name!r}; available: {', '.join(sorted(table))}")
    path = _root() / f"{table[name]}.pt"
    if not path.is_file():
        raise InputError(f"shipped {what} {name!r} is missing from this installation ({path}); reinstall moldiff")
    return path


def classifier_path(name: str) -> Path:
    """Path of the shipped property classifier ``name`` (see :data:`CLASSIFIERS`)."""
    return _shipped(CLASSIFIERS, name, "property classifier")


def ranker_path(name: str) -> Path:
    """Path of the shipped pose ranker ``name`` (see :data:`RANKERS`)."""
    return _shipped(RANKERS, name, "pose ranker")
