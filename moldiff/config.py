"""Typed configuration: dataclass schemas and a validating YAML loader.

YAML keys == dataclass field names == constructor keyword arguments. Unknown keys,
wrong types and values outside a field's ``choices``/``min``/``max`` raise
:class:`moldiff.errors.InputError` naming the key and the file. Command-line
overrides use dotted keys: ``data.batch_size=32``.

Declare limits with :func:`option`::

    @dataclass
    class DataConfig:
        batch_size: int = option(64, min=1)
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from moldiff.checks import SEED_MAX
from moldiff.errors import InputError
from moldiff.paths import read_text

#: sampler names (:data:`moldiff.diffusion.sampler.SAMPLERS`), here for argument parsers that must not import torch
SamplerName = Literal["ddpm", "ddim", "dpm2m"]
SAMPLER_NAMES: tuple[str, ...] = typing.get_args(SamplerName)

T = TypeVar("T")


def option(default: Any = dataclasses.MISSING, *, min: float | None = None, max: float | None = None, help: str = ""):
    """A dataclass field with bounds (inclusive) checked at load time."""
    kwargs = {"default_factory": default} if callable(default) else {"default": default}
    return field(metadata={"min": min, "max": max, "help": help}, **kwargs)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str, where: str) -> Any:
    """Check/convert ``value`` against the annotation ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        # the member of the value's own type first: ``1`` for ``float | int`` stays an int
        members = sorted((a for a in args if a is not type(None)), key=lambda a: a is not type(value))
        for arg in members:
            try:
                return _convert(value, arg, key, where)
            except InputError as exc:
                errors.append(str(exc))
        raise InputError(errors[0] if len(errors) == 1 else f"{where}: {key}: {value!r} matches none of {tp}")
    if origin is Literal:
        if value not in args:
            raise InputError(f"{where}: {key}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{where}: {key}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_convert(v, inner, f"{key}[{i}]", where) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or tp is tuple else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise InputError(f"{where}: {key}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where=where, prefix=f"{key}.")
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(f"{where}: {key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where}: {key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "4e-4" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where}: {key}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise InputError(f"{where}: {key}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise InputError(f"{where}: {key}: expected a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, (str, Path)):
            raise InputError(f"{where}: {key}: expected a path, got {value!r}")
        return Path(value)
    raise TypeError(f"config field {key}: unsupported annotation {_type_name(tp)}")


def from_dict(cls: type[T], data: Any, *, where: str = "<config>", prefix: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, validating every key and value.

    Args:
        cls: a dataclass type.
        data: a mapping (e.g. parsed YAML); ``None`` means "all defaults".
        where: the source (file name) for error messages.
        prefix: dotted key prefix for nested sections (error messages).
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: {prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(
            f"{where}: unknown key(s) {', '.join(prefix + str(k) for k in unknown)}; "
            f"valid keys: {', '.join(prefix + k for k in fields)}"
        )
    kwargs = {}
    for name, f in fields.items():
        key = prefix + name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise InputError(f"{where}: missing required key {key}")
            continue
        value = _convert(data[name], hints[name], key, where)
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        if value is not None and lo is not None and value < lo:
            raise InputError(f"{where}: {key}: {value!r} is below the minimum {lo}")
        if value is not None and hi is not None and value > hi:
            raise InputError(f"{where}: {key}: {value!r} is above the maximum {hi}")
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {prefix.rstrip('.') or 'config'}: {exc}") from exc


def to_dict(cfg: Any) -> dict:
    """A plain (YAML-serialisable) dict of a config dataclass."""

    def clean(v: Any) -> Any:
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, tuple):
            return [clean(x) for x in v]
        if isinstance(v, list):
            return [clean(x) for x in v]
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return v

    return clean(dataclasses.asdict(cfg))


def parse_overrides(overrides: Sequence[str]) -> dict:
    """``["a.b=1", "c=x"]`` -> ``{"a": {"b": 1}, "c": "x"}`` (values parsed as YAML scalars)."""
    out: dict = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise InputError(f"override {item!r}: expected key.sub=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise InputError(f"override {item!r}: cannot parse value ({exc})") from exc
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InputError(f"override {item!r}: {part} is both a value and a section")
        node[parts[-1]] = value
    return out


def merge(base: dict, update: Mapping) -> dict:
    """Recursive dict merge (``update`` wins); returns a new dict."""
    out = dict(base)
    for k, v in update.items():
        out[k] = merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def load_config(path: str | Path, cls: type[T], overrides: Sequence[str] = ()) -> T:
    """Read a YAML file into ``cls``, applying ``key.sub=value`` overrides first."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such config file" if not path.exists() else f"{path}: not a file")
    text = read_text(path, "config")
    if "\x00" in text:
        raise InputError(f"{path}: not a text file (it holds NUL bytes)")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"{path}: invalid YAML{at}: {getattr(exc, 'problem', exc)}") from exc
    except RecursionError:
        raise InputError(f"{path}: invalid YAML (nested too deeply)") from None
    if data is None:
        raise InputError(f"{path}: empty config (no keys); start from one of the files in configs/")
    if not isinstance(data, Mapping):
        raise InputError(f"{path}: top level must be a mapping of keys to values")
    return from_dict(cls, merge(dict(data), parse_overrides(overrides)), where=str(path))


# --- schemas --------------------------------------------------------------------------
@dataclass
class DataConfig:
    """Data section. ``name`` picks the data set (keys == the data module's arguments):

    * ``qm9``: :class:`moldiff.data.datamodule.QM9DataModule` (unconditional molecules);
    * ``druglike``: conformers of a seeded MOSES subset, ligands without a pocket
      (pre-training of pocket models; ``smiles``, ``num_molecules``, ``val_fraction``);
    * ``complexes``: protein–ligand complexes of ``root`` (any layout of
      :mod:`moldiff.data.complexes`), pockets of ``radius`` Å, split by target.
    """

    name: Literal["qm9", "druglike", "complexes"] = "qm9"
    batch_size: int = option(64, min=1)
    num_workers: int = option(0, min=0)
    cache: str | None = None
    limit_train: int | None = option(None, min=1)
    limit_val: int | None = option(None, min=1)
    limit_test: int | None = option(None, min=1)
    seed: int = option(0, min=0, max=SEED_MAX)
    root: str | None = option(None, help="complexes: data folder (default: the shared fep_benchmark)")
    radius: float = option(10.0, min=1.0, help="complexes: pocket radius around the ligand, Å")
    split: list[float] = option(lambda: [0.8, 0.1, 0.1], help="complexes: train/val/test share of targets")
    smiles: str | None = option(None, help="druglike: SMILES file (default: the shared moses/train.csv.gz)")
    num_molecules: int = option(20000, min=10, help="druglike: molecules to embed")
    val_fraction: float = option(0.05, min=0.0, max=0.5, help="druglike: held-out share")
    build_workers: int = option(1, min=1, help="druglike: processes embedding conformers")


#: the QM9 data section is :class:`DataConfig` with ``name: qm9`` (older name kept)
QM9DataConfig = DataConfig


@dataclass
class EvaluateConfig:
    """Settings of ``moldiff evaluate`` (also usable from YAML)."""

    bonds: Literal["table", "rdkit", "file"] = "table"
    reference: str | None = None
    druglike: bool = False
    strict: bool = False


@dataclass
class ModelConfig:
    """Denoiser section; ``name`` picks the registry entry in :data:`moldiff.nn.DENOISERS`."""

    name: Literal["egnn", "e3nn", "pocket_egnn", "bond_egnn"] = "egnn"
    hidden: int = option(128, min=1, help="EGNN width / e3nn scalar channels")
    edge_hidden: int = option(64, min=1, help="bond_egnn only: width of the atom-pair features")
    num_rbf: int = option(16, min=2, help="bond_egnn only: Gaussian distance features")
    self_condition: bool = option(True, help="bond_egnn only: the previous prediction is an input")
    layers: int = option(6, min=1)
    vectors: int = option(8, min=1, help="e3nn only: 1o channels")
    num_basis: int = option(16, min=2, help="e3nn only: radial basis size")
    coords_range: float = option(15.0, min=0.0, help="EGNN only: bound on coordinate steps, Å")
    norm_factor: float = option(1.0, min=1e-6, help="EGNN only: aggregation divisor")
    attention: bool = True
    cutoff: float | None = option(None, min=0.0, help="distance graph instead of fully connected, Å (pocket_egnn: ligand-pocket edges, default 8)")
    max_neighbors: int | None = option(None, min=1)
    pocket_cutoff: float | None = option(None, min=0.0, help="pocket_egnn only: pocket-pocket edges, Å")
    pocket_norm_factor: float = option(100.0, min=1e-6, help="pocket_egnn only: divisor of pocket messages")
    contact_radius: float | None = option(None, min=0.0, help="pocket_egnn only: ligand-pocket contacts within this "
                                          "distance (Å) get up to full edge weight (cosine envelope)")


@dataclass
class DiffusionConfig:
    """Schedule, parameterisation and feature scaling."""

    schedule: Literal["polynomial", "cosine"] = "polynomial"
    power: float = option(2.0, min=0.1, help="polynomial schedule exponent")
    precision: float = option(1e-5, min=1e-9, max=0.1)
    parameterization: Literal["eps", "x0", "v", "residual"] = "eps"
    type_scale: float = option(0.25, min=1e-6)
    charge_scale: float = option(0.5, min=0.0)


@dataclass
class FlowConfig:
    """Joint flow matching of the bond-generating family (``model.name: bond_egnn``), see
    :mod:`moldiff.diffusion.flow`: loss weights, training time distribution, priors, sampling noise."""

    coord_scale: float = option(1.4, min=1e-3, help="standard deviation of the coordinate prior, Å "
                                "(QM9: 1.4, its per-coordinate spread about the centre)")
    time_alpha: float = option(2.0, min=0.1, help="training times from Beta(time_alpha, 1); 1 = uniform")
    type_weight: float = option(0.2, min=0.0, help="weight of the element cross-entropy")
    charge_weight: float = option(1.0, min=0.0, help="weight of the charge cross-entropy")
    bond_weight: float = option(1.0, min=0.0, help="weight of the bond cross-entropy")
    coord_noise: float = option(0.1, min=0.0, help="Å of Gaussian noise on the training interpolants")
    optimal_transport: bool = option(True, help="rotate each prior draw onto its molecule")
    self_condition_prob: float = option(0.5, min=0.0, max=1.0, help="share of training steps with self-conditioning")
    cat_noise: float = option(1.0, min=0.0, help="sampling: detailed-balance noise of the categorical jumps")


@dataclass
class OptimConfig:
    lr: float = option(1e-4, min=0.0)
    weight_decay: float = option(1e-12, min=0.0)
    ema_decay: float = option(0.999, min=0.0, max=1.0)
    grad_clip: float | None = option(1.0, min=0.0)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: int = option(0, min=0)


@dataclass
class SamplingConfig:
    """Defaults for sampling, and the sample-and-evaluate callback during training."""

    steps: int = option(100, min=1)
    sampler: SamplerName = "ddpm"
    time_power: float = option(1.0, min=0.1, help="step grid t = u ** time_power; > 1 puts more steps at low noise")
    noise_scale: float = option(1.0, min=0.01, max=1.0,
                                help="noise added per stochastic step x this; 1 = the model's distribution, "
                                     "< 1 = lower temperature")
    every_n_epochs: int = option(1, min=0, help="0 disables sampling during training")
    num_samples: int = option(64, min=1)
    batch_size: int = option(64, min=1)
    seed: int = option(0, min=0, max=SEED_MAX)


@dataclass
class TrainerConfig:
    """Lightning Trainer settings (``strategy: ddp`` + ``devices``/``num_nodes`` for multi-GPU/-node)."""

    output_dir: str = "runs/qm9"
    max_epochs: int = option(10, min=-1)
    max_steps: int = option(-1, min=-1)
    max_time: str | None = option(None, help="stop after this wall-clock time, 'DD:HH:MM:SS' (Lightning's max_time)")
    accelerator: str = "auto"
    devices: int | str = "auto"
    strategy: str = "auto"
    num_nodes: int = option(1, min=1)
    precision: str = "32-true"
    matmul_precision: Literal["highest", "high", "medium"] | None = option(
        None, help="torch.set_float32_matmul_precision: highest, high (TF32), medium")
    log_every_n_steps: int = option(50, min=1)
    check_val_every_n_epoch: int = option(1, min=1)
    limit_val_batches: float | int = 1.0
    checkpoint_every_n_steps: int | None = option(None, min=1)
    resume: bool = True
    init_from: str | None = option(None, help="start a new run from these (EMA) weights; fresh optimiser")
    seed: int = option(0, min=0, max=SEED_MAX)
    compile: bool = False
    tensorboard: bool = True
    deterministic: bool = False


@dataclass
class TrainConfig:
    """A whole training run; YAML sections map onto the nested dataclasses."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


# --- docking experiments (``moldiff dock CONFIG.yaml``) ---------------------------------
@dataclass
class DockDataConfig:
    """Complexes to dock: every complex of ``root`` (layouts of :mod:`moldiff.data.complexes`);
    each complex's ligand file gives the ligand graph (its coordinates define the site only)."""

    root: str | None = option(None, help="data folder (default: the shared posebusters_dev)")
    ids: list[str] | None = option(None, help="only these complex ids")


@dataclass
class DockPocketConfig:
    """The known binding site, from each complex's crystal ligand."""

    site: Literal["reference", "center"] = option("reference", help="residues near the ligand's atoms / its centre")
    radius: float = option(10.0, min=1.0, help="pocket residues within this distance, Å")


@dataclass
class DockVinaConfig:
    exhaustiveness: int = option(8, min=1, help="Vina baseline's search effort")


@dataclass
class DockTrainerConfig:
    """Lightning predict loop: complexes are sharded over devices/nodes (``strategy: ddp``)."""

    accelerator: str = "cpu"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = option(1, min=1)


@dataclass
class DockOutputConfig:
    dir: str = "runs/docking"
    resume: bool = option(True, help="skip complexes that already have a result")


@dataclass
class DockConfig:
    """A docking experiment: ``moldiff dock CONFIG.yaml [key=value ...]``."""

    data: DockDataConfig = field(default_factory=DockDataConfig)
    pocket: DockPocketConfig = field(default_factory=DockPocketConfig)
    method: Literal["moldiff", "vina"] = "moldiff"
    baseline: Literal["none", "vina"] = option("none", help="also dock every complex with AutoDock Vina")
    model: str = option("pocket", help="pocket model: a shipped name or a checkpoint file")
    num_poses: int = option(10, min=1, help="K poses per complex")
    steps: int = option(40, min=1)
    sampler: SamplerName = "ddpm"
    conformers: int = option(30, min=1, help="RDKit conformers per ligand")
    refine: bool = option(True, help="Vina local optimisation of each pose")
    refine_steps: int = option(20, min=0, help="Monte Carlo trials per pose after the local optimisation")
    search_steps: int = option(200, min=0, help="batched Monte Carlo search (Vina energy): moves per chain "
                               "(0: the older per-pose trials, refine_steps, instead)")
    search_chains: int = option(4, min=1, help="search chains started from each placement")
    placement: Literal["diffusion", "random"] = option("diffusion", help="random: ablation without the model")
    clash_distance: float = option(0.0, min=0.0, help="clash guidance during placement, Å (0: off)")
    ranking: Literal["vina", "fit"] = "vina"
    posebusters: bool = option(True, help="PoseBusters 'dock' checks of each top-1 pose")
    seed: int = option(0, min=0, max=SEED_MAX)
    limit: int | None = option(None, min=1, help="dock only the first N complexes")
    vina: DockVinaConfig = field(default_factory=DockVinaConfig)
    trainer: DockTrainerConfig = field(default_factory=DockTrainerConfig)
    output: DockOutputConfig = field(default_factory=DockOutputConfig)
