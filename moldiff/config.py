"""Typed configuration: the schemas of training runs (:class:`TrainConfig`) and docking
experiments (:class:`DockConfig`), read by the validating loader of :mod:`moldiff.schema`.

YAML keys == dataclass field names == constructor keyword arguments. Unknown keys,
wrong types and values outside a field's bounds raise :class:`moldiff.errors.InputError`
naming the key and the file. Command-line overrides use dotted keys: ``data.batch_size=32``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from moldiff.checks import SEED_MAX
from moldiff.options import DockOptions
from moldiff.schema import (SAMPLER_NAMES, SamplerName, from_dict, load_config, merge, option,  # noqa: F401
                            parse_overrides, to_dict)


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
class DockConfig(DockOptions):
    """A docking experiment: ``moldiff dock CONFIG.yaml [key=value ...]``. The top-level keys
    are :class:`~moldiff.options.DockOptions` (the same options as docking one complex) plus
    the experiment's own: data, pocket, method, baseline, model, PoseBusters checks, limit and
    the sections below."""

    data: DockDataConfig = field(default_factory=DockDataConfig)
    pocket: DockPocketConfig = field(default_factory=DockPocketConfig)
    method: Literal["moldiff", "vina"] = "moldiff"
    baseline: Literal["none", "vina"] = option("none", help="also dock every complex with AutoDock Vina")
    model: str = option("pocket", help="pocket model: a shipped name or a checkpoint file")
    posebusters: bool = option(True, help="PoseBusters 'dock' checks of each top-1 pose")
    limit: int | None = option(None, min=1, help="dock only the first N complexes")
    vina: DockVinaConfig = field(default_factory=DockVinaConfig)
    trainer: DockTrainerConfig = field(default_factory=DockTrainerConfig)
    output: DockOutputConfig = field(default_factory=DockOutputConfig)
