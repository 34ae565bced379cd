"""Options of sampling, design and docking: one typed definition each, validated once.

Each options class is a dataclass declared with :func:`moldiff.schema.option` (type, bounds,
help). The same definition

* validates keyword arguments of the Python API (:func:`resolve`),
* generates the command-line flags (:func:`add_flags`, :func:`from_args`),
* is the top level of a docking experiment's YAML (:class:`moldiff.config.DockConfig` extends
  :class:`DockOptions`),

so a default or a bound is stated in one place. ``None`` means "the model's default" where
a field says so (a model carries its own steps, sampler, time grid and temperature).

    >>> opts = resolve(SamplingOptions, steps=50, seed=0)
    >>> model.sample(10, options=opts)          # or model.sample(10, steps=50, seed=0)
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from moldiff.checks import MAX_NUM_ATOMS, SEED_MAX, check_finite, check_seed
from moldiff.schema import SamplerName, from_dict, option
from moldiff.errors import InputError

T = TypeVar("T")


@dataclass
class SamplingOptions:
    """Sampling molecules from an unconditional model (:meth:`moldiff.api.MolDiffModel.sample`,
    :meth:`moldiff.api.BondModel.sample`, ``moldiff sample``)."""

    n: int = option(100, min=1, help="number of molecules")
    steps: int | None = option(None, min=1, help="sampling steps, network calls per molecule "
                                                 "(default: the model's)")
    sampler: SamplerName | None = option(None, help="ddpm (ancestral), ddim (deterministic) or dpm2m "
                                                    "(second-order stochastic); default: the model's")
    time_power: float | None = option(None, gt=0, help="step grid t = u^P (default: the model's; P > 1 puts "
                                                       "more steps at low noise)")
    noise_scale: float | None = option(None, gt=0, max=1.0,
                                       help="scale of the noise added per stochastic step (default: the "
                                            "model's): 1 = the model's distribution, < 1 = lower temperature, "
                                            "more stable and less diverse molecules")
    cat_noise: float | None = option(None, min=0.0, help="bond-generating models: noise of the categorical "
                                                         "jumps (default: the model's)")
    last_step: Literal["argmax", "sample"] | None = option(
        None, help="bond-generating models: elements, charges and bonds at the last step are the most probable "
                   "class (argmax) or drawn from the prediction (sample); default: the model's")
    num_atoms: int | None = option(None, min=1, max=MAX_NUM_ATOMS,
                                   help="fixed atom count (default: drawn from the training histogram)")
    guidance_scale: float | None = option(None, min=0.0, max=100.0,
                                          help="classifier-free guidance scale of property-conditioned models "
                                               "and of pocket models trained with pocket dropout (default: the "
                                               "model's; 1 = plain conditional, 0 = unconditional, > 1 follows "
                                               "the condition more closely)")
    seed: int | None = option(None, min=0, max=SEED_MAX,
                              help="random seed (0 to 2^32 - 1): the same seed gives the same result")
    batch_size: int = option(64, min=1, help="molecules per network batch (memory, not results)")


@dataclass
class DesignOptions(SamplingOptions):
    """Designing ligands in a pocket (:meth:`moldiff.api.PocketModel.design`, ``moldiff design``;
    the policy is :mod:`moldiff.ligand_design`)."""

    n: int = option(10, min=1, help="number of ligands")
    num_atoms: int | Literal["reference"] | None = option(
        None, min=2, max=MAX_NUM_ATOMS, help="heavy atoms per ligand, or 'ref' (the reference ligand's count); "
                                             "default: drawn given the pocket size")
    batch_size: int = option(16, min=1, help="designs per network batch (memory, not results)")
    radius: float | None = option(None, gt=0, help="pocket radius, Å (default: the model's, 10)")
    clash_distance: float | None = option(None, min=0.0, help="clash guidance: predicted atoms kept this far "
                                                              "from the protein, Å (default 2.8; 0: off)")
    join_fragments: bool = option(True, help="connectivity guidance: stray fragments moved onto the main one")
    vina_guidance: bool = option(True, help="energy guidance: the prediction moves down Vina's energy")
    redraw: int = option(2, min=0, help="designs that overlap the protein or cannot be assembled are drawn "
                                        "again up to this many times (0: off)")
    center_radius: float | None = option(None, gt=0, help="the ligand's centre is kept this close to the "
                                                          "pocket's centre, Å (default 3)")
    relax: bool = option(True, help="restrained force-field relaxation of each assembled ligand")
    drop_strays: int = option(3, min=0, help="grown, linked or hopped designs: stray fragments of up to this "
                                             "many heavy atoms apart from the kept atoms' molecule are "
                                             "dropped (0: kept)")


@dataclass
class DockOptions:
    """Docking one ligand (:class:`moldiff.docking.Docker`, ``moldiff dock --protein``) and every
    complex of an experiment (:class:`moldiff.config.DockConfig` extends this)."""

    num_poses: int = option(10, min=1, help="K poses per complex, best first")
    steps: int = option(40, min=1, help="sampling steps of the placement model")
    sampler: SamplerName = option("ddpm", help="sampler of the placement model")
    conformers: int = option(30, min=1, help="RDKit conformers per ligand")
    refine: bool = option(True, help="Vina local optimisation of each pose (off: rank by conformer fit)")
    refine_steps: int = option(20, min=0, help="Monte Carlo trials per pose after the local optimisation")
    search_steps: int = option(200, min=0, help="batched Monte Carlo search (Vina energy): moves per chain "
                                                "(0: the older per-pose trials, refine_steps, instead)")
    search_chains: int = option(4, min=1, help="search chains started from each placement")
    placement: Literal["diffusion", "random"] = option("diffusion", help="random: ablation without the model")
    clash_distance: float = option(0.0, min=0.0, help="clash guidance during placement, Å (0: off)")
    ranking: Literal["vina", "fit", "confidence", "combined"] = option(
        "vina", help="rank poses by Vina's score, by conformer fit, by the pose ranker's confidence, or by "
                     "both (combined)")
    ranker: str = option("pose", help="the pose ranker for ranking=confidence/combined: a shipped name or a file")
    seed: int = option(0, min=0, max=SEED_MAX, help="random seed (0 to 2^32 - 1): the same seed gives the "
                                                    "same result")


def resolve(cls: type[T], base: Any = None, /, *, where: str = "arguments", names=None, **values) -> T:
    """An options object of ``cls``: the fields of ``base`` (any object with those attributes,
    e.g. a config that extends ``cls``), updated by ``values``, validated (types, bounds) once.

    Raises:
        InputError: an unknown option, a wrong type or a value out of bounds, named.
    """
    fields = [f.name for f in dataclasses.fields(cls)]
    if isinstance(base, dict):
        data = {k: v for k, v in base.items() if k in fields}
    else:
        data = {k: getattr(base, k) for k in fields if base is not None and hasattr(base, k)}
    data.update(values)
    return from_dict(cls, data, where=where, names=names)


# --- command line ---------------------------------------------------------------------------
def flag_name(field: str) -> str:
    """The command-line flag of a field: ``num_atoms`` -> ``--num-atoms``."""
    return "--" + field.replace("_", "-")


def _finite(text: str) -> float:
    try:
        return check_finite(text, "value")
    except InputError as exc:
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}") from exc


def _seed(text: str) -> int:
    try:
        return check_seed(int(text))
    except (ValueError, InputError):
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {SEED_MAX}, got {text!r}") from None


def _atoms_or_reference(text: str) -> int | str:
    if text in ("ref", "reference"):
        return "reference"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'ref', got {text!r}") from None


def add_flags(parser: argparse.ArgumentParser, cls: type, *, skip=(), flags: dict | None = None,
              defaults: dict | None = None) -> None:
    """Add a flag per field of ``cls`` (skipping ``skip``): ``--field-name`` (or ``flags[field]``),
    its type, choices and help from the field; booleans that default to on get ``--no-field``.
    Every flag defaults to ``None`` (not given), so :func:`from_args` passes on only what the user
    gave and the options class keeps its defaults; ``defaults`` overrides a default shown in help."""
    flags, defaults = flags or {}, defaults or {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        tp = hints[f.name]
        args = [a for a in typing.get_args(tp) if a is not type(None)] if typing.get_origin(tp) in (
            typing.Union, getattr(__import__("types"), "UnionType")) else [tp]
        help_text = f.metadata.get("help", "")
        default = defaults.get(f.name, f.default)
        names = flags.get(f.name, [flag_name(f.name)])
        if args == [bool]:
            if default:
                parser.add_argument(*(flags.get(f.name) or [f"--no-{f.name.replace('_', '-')}"]), dest=f.name,
                                    action="store_const", const=False, default=None, help=f"turn off: {help_text}")
            else:
                parser.add_argument(*names, dest=f.name, action="store_const", const=True, default=None,
                                    help=help_text)
            continue
        kwargs: dict = {"dest": f.name, "default": None}
        literal = [a for a in args if typing.get_origin(a) is Literal]
        if len(args) == 1 and literal:
            kwargs["choices"] = typing.get_args(literal[0])
        elif literal:  # a count or a keyword (num_atoms: K | ref)
            kwargs["type"], kwargs["metavar"] = _atoms_or_reference, "K|ref"
        elif args[0] is int:
            kwargs["type"] = _seed if f.name == "seed" else int
        elif args[0] is float:
            kwargs["type"] = _finite
        if default is not None and "default" not in help_text:
            help_text += f" (default: {default})"
        parser.add_argument(*names, help=help_text, **kwargs)


def from_args(cls: type[T], args: argparse.Namespace, base: Any = None, *, flags: dict | None = None) -> T:
    """The options the user gave on the command line (fields of ``cls`` present in ``args`` and
    not ``None``) over ``base``'s, validated; errors name the flag."""
    flags = flags or {}
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
             if getattr(args, f.name, None) is not None}
    return resolve(cls, base, where="command line", names=lambda k: flags.get(k, [flag_name(k)])[0], **given)
