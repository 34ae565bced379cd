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
from moldiff.options import DesignOptions, DockOptions
from moldiff.schema import (SAMPLER_NAMES, SamplerName, from_dict, load_config, merge, option,  # noqa: F401
                            parse_overrides, section_from_dict, to_dict)


# --- schemas --------------------------------------------------------------------------
@dataclass
class _DataCommon:
    """Keys every data section has."""

    name: str = "qm9"
    batch_size: int = option(64, min=1)
    num_workers: int = option(0, min=0)
    limit_train: int | None = option(None, min=1)
    limit_val: int | None = option(None, min=1)
    limit_test: int | None = option(None, min=1)
    seed: int = option(0, min=0, max=SEED_MAX)


@dataclass
class QM9DataConfig(_DataCommon):
    """``name: qm9``: :class:`moldiff.data.datamodule.QM9DataModule` (unconditional molecules)."""

    name: Literal["qm9"] = "qm9"
    cache: str | None = option(None, help="cache folder (default: MOLDIFF_CACHE / the user cache)")
    half: Literal["first", "second"] | None = option(
        None, help="train on one half of the training split only (EDM's property protocol: the conditional "
                   "generator on the second, the property classifier on the first)")


@dataclass
class DrugLikeDataConfig(_DataCommon):
    """``name: druglike``: conformers of a seeded MOSES subset, ligands without a pocket
    (pre-training of pocket models)."""

    name: Literal["druglike"] = "druglike"
    smiles: str | None = option(None, help="SMILES file; relative paths are read against the data root "
                                           "(default: moses/train.csv.gz there)")
    num_molecules: int = option(20000, min=10, help="molecules to embed")
    val_fraction: float = option(0.05, min=0.0, max=0.5, help="held-out share")
    build_workers: int = option(1, min=1, help="processes embedding conformers")
    radius: float = option(10.0, min=1.0, help="pocket radius the model is used with, Å")


@dataclass
class ComplexesDataConfig(_DataCommon):
    """``name: complexes``: protein–ligand complexes of ``root`` (any layout of
    :mod:`moldiff.data.complexes`), pockets of ``radius`` Å, split by target."""

    name: Literal["complexes"] = "complexes"
    root: str | None = option(None, help="data folder; relative paths are read against the data root "
                                         "(default: fep_benchmark there)")
    radius: float = option(10.0, min=1.0, help="pocket radius around the ligand, Å")
    split: list[float] = option(lambda: [0.8, 0.1, 0.1], help="train/val/test share of targets")


#: the data section: one of the data sets, told apart by ``name`` (keys of another data set
#: are errors, not silently ignored)
DataConfig = QM9DataConfig | DrugLikeDataConfig | ComplexesDataConfig


@dataclass
class EvaluateConfig:
    """Settings of ``moldiff evaluate`` (also usable from YAML)."""

    bonds: Literal["table", "rdkit", "file"] = "table"
    reference: str | None = None
    druglike: bool = False
    strict: bool = False


@dataclass
class _EGNNKeys:
    """Keys of the EGNN family (EDM's network, Satorras et al. 2021)."""

    name: str = "egnn"
    hidden: int = option(128, min=1, help="width of the atom features")
    layers: int = option(6, min=1)
    coords_range: float = option(15.0, min=0.0, help="bound on coordinate steps, Å")
    norm_factor: float = option(1.0, min=1e-6, help="aggregation divisor")


@dataclass
class EGNNConfig(_EGNNKeys):
    """``name: egnn``: :class:`moldiff.nn.egnn.EGNNDenoiser`."""

    name: Literal["egnn"] = "egnn"
    attention: bool = True
    cutoff: float | None = option(None, min=0.0, help="distance graph instead of fully connected, Å")
    max_neighbors: int | None = option(None, min=1)


@dataclass
class E3NNConfig:
    """``name: e3nn``: :class:`moldiff.nn.e3nn_denoiser.E3NNDenoiser`."""

    name: Literal["e3nn"] = "e3nn"
    hidden: int = option(128, min=1, help="scalar channels")
    layers: int = option(6, min=1)
    vectors: int = option(8, min=1, help="1o channels")
    num_basis: int = option(16, min=2, help="radial basis size")
    cutoff: float | None = option(None, min=0.0, help="distance graph instead of fully connected, Å")
    max_neighbors: int | None = option(None, min=1)


@dataclass
class PocketEGNNConfig(_EGNNKeys):
    """``name: pocket_egnn``: :class:`moldiff.nn.pocket_egnn.PocketEGNNDenoiser`."""

    name: Literal["pocket_egnn"] = "pocket_egnn"
    attention: bool = True
    cutoff: float | None = option(None, min=0.0, help="ligand-pocket edges, Å (default 8)")
    pocket_cutoff: float | None = option(None, min=0.0, help="pocket-pocket edges, Å")
    pocket_norm_factor: float = option(100.0, min=1e-6, help="divisor of pocket messages")
    contact_radius: float | None = option(None, min=0.0, help="ligand-pocket contacts within this distance (Å) "
                                                              "get up to full edge weight (cosine envelope)")


@dataclass
class BondEGNNConfig(_EGNNKeys):
    """``name: bond_egnn``: :class:`moldiff.nn.bond_egnn.BondEGNN`, the bond-generating family."""

    name: Literal["bond_egnn"] = "bond_egnn"
    edge_hidden: int = option(64, min=1, help="width of the atom-pair features")
    num_rbf: int = option(16, min=2, help="Gaussian distance features")
    self_condition: bool = option(True, help="the previous prediction is an input")


#: the network section, told apart by ``name`` (registry: :data:`moldiff.nn.DENOISERS`)
ModelConfig = EGNNConfig | E3NNConfig | PocketEGNNConfig | BondEGNNConfig


def model_config(**values) -> EGNNConfig | E3NNConfig | PocketEGNNConfig | BondEGNNConfig:
    """A network section from keywords (``name`` picks the class), validated."""
    return section_from_dict(ModelConfig, values, where="arguments", key="model")


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
    last_step: Literal["argmax", "sample"] = option(
        "argmax", help="sampling: elements, charges and bonds at the last step are the most probable class "
                       "(argmax) or drawn from the prediction (sample)")


@dataclass
class ConditioningConfig:
    """Property conditioning (QM9, ``model.name: egnn``): the generator sees each training
    molecule's values of ``properties`` (:data:`moldiff.data.qm9_properties.PROPERTIES`,
    normalised by the training data's mean and mean absolute deviation, as EDM), dropped with
    probability ``drop_prob`` so that the same network also learns the unconditional model
    (classifier-free guidance, Ho & Salimans 2022). Empty ``properties``: unconditional.
    Pocket models (``model.name: pocket_egnn``) are conditioned on their pocket:
    ``pocket_drop_prob`` of the training complexes are seen without it, so that sampling can
    guide on the pocket (``guidance_scale`` of ``moldiff design``)."""

    properties: list[str] = option(list, help="QM9 properties to condition on: alpha, gap, homo, lumo, mu, Cv")
    drop_prob: float = option(0.1, min=0.0, max=1.0, help="share of training molecules that see no condition")
    guidance_scale: float = option(1.0, min=0.0, max=100.0,
                                   help="default guidance scale of the trained model (1: plain conditional)")
    pocket_drop_prob: float = option(0.0, min=0.0, max=1.0,
                                     help="pocket models: share of training complexes whose ligand sees no pocket "
                                          "(> 0 makes pocket guidance possible)")

    def __post_init__(self):
        from moldiff.data.qm9_properties import PROPERTIES

        unknown = [p for p in self.properties if p not in PROPERTIES]
        if unknown:
            raise ValueError(f"unknown propert{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                             f"choose from {', '.join(PROPERTIES)}")
        if len(set(self.properties)) != len(self.properties):
            raise ValueError("a property is named twice")


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

    data: DataConfig = field(default_factory=QM9DataConfig)
    model: ModelConfig = field(default_factory=EGNNConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    conditioning: ConditioningConfig = field(default_factory=ConditioningConfig)
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
class ScreenConfig:
    """Virtual screening: one receptor, a ligand library (:mod:`moldiff.docking.screen`).
    The site is given by exactly one of ``reference``, ``center`` or ``box``."""

    receptor: str = option(help="protein PDB or mmCIF")
    library: str = option(help="ligands: a SMILES file (.smi/.txt: SMILES [id] per line), a CSV/TSV with "
                               "id and smiles columns, a multi-record SDF, or a folder of SDF/MOL/MOL2 files")
    reference: str | None = option(None, help="ligand with 3D coordinates defining the site")
    center: list[float] | None = option(None, help="site centre [x, y, z], Å")
    box: list[float] | None = option(None, help="site box [x, y, z, size_x, size_y, size_z], Å")
    radius: float = option(10.0, min=1.0, help="pocket residues within this distance of the site, Å")
    id_column: str = option("id", help="CSV/TSV column of ligand ids (absent: the row number)")
    smiles_column: str = option("smiles", help="CSV/TSV column of SMILES")
    strip_salts: bool = option(True, help="keep the largest organic fragment of each input")
    protonation_ph: float | None = option(7.4, min=0.0, max=14.0,
                                          help="give each ligand its most probable charge state at this pH "
                                               "(moldiff.chem.protonation); null: dock the charge state as given")
    workers: int | None = option(None, min=1, help="worker processes, one torch thread each (default: every "
                                                   "core this process may use)")

    def __post_init__(self):
        given = [k for k in ("reference", "center", "box") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of reference, center, box for the site (got {', '.join(given) or 'none'})")
        if self.center is not None and len(self.center) != 3:
            raise ValueError(f"center needs 3 numbers, got {len(self.center)}")
        if self.box is not None and len(self.box) != 6:
            raise ValueError(f"box needs 6 numbers (centre and size), got {len(self.box)}")


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
    limit: int | None = option(None, min=1, help="dock only the first N complexes (ligands of a screen)")
    screen: ScreenConfig | None = option(None, help="screen a ligand library against one receptor instead of "
                                                    "docking the complexes of data")
    vina: DockVinaConfig = field(default_factory=DockVinaConfig)
    trainer: DockTrainerConfig = field(default_factory=DockTrainerConfig)
    output: DockOutputConfig = field(default_factory=DockOutputConfig)


# --- design experiments (``moldiff design CONFIG.yaml``) -----------------------------------
@dataclass
class DesignDataConfig:
    """Pockets to design for: every complex of ``root`` (layouts of :mod:`moldiff.data.complexes`);
    each complex's ligand defines the site and is scored beside the designs as the reference."""

    root: str | None = option(None, help="data folder (default: the shared posebusters_dev)")
    ids: list[str] | None = option(None, help="only these complex ids")


@dataclass
class DesignEvaluateConfig:
    """How every design (and the pocket's reference ligand, the same way) is scored."""

    posebusters: Literal["dock", "full", "fast", "off"] = option(
        "dock", help="PoseBusters checks: dock (intramolecular and with the protein), full / fast "
                     "(intramolecular, with / without the internal-energy check) or off")
    vina: bool = option(True, help="Vina score of each pose as designed")
    vina_minimise: bool = option(True, help="and after Vina's local optimisation")
    redock: bool = option(True, help="re-dock each design and the reference with Vina's global search: "
                                     "the share scoring at least the reference")
    redock_exhaustiveness: int = option(8, min=1, help="Vina exhaustiveness of the re-docking")
    time_limit: float | None = option(60.0, gt=0, help="seconds per molecule for each check (PoseBusters, "
                                                       "Vina scoring, re-docking); over it the check fails "
                                                       "and says so; null: none")


@dataclass
class DesignOutputConfig:
    dir: str = "runs/design"
    resume: bool = option(True, help="skip pockets that already have a result")


@dataclass
class DesignConfig(DesignOptions):
    """A design experiment: ``moldiff design CONFIG.yaml [key=value ...]``. The top-level keys are
    :class:`~moldiff.options.DesignOptions` (the same options as ``moldiff design --protein``)
    plus the experiment's own: data, site, model, limit and the sections below."""

    data: DesignDataConfig = field(default_factory=DesignDataConfig)
    site: Literal["reference", "center"] = option("reference", help="the pocket: residues near the reference "
                                                                    "ligand's atoms / near its centre")
    model: str = option("pocket_design", help="pocket model: a shipped name or a checkpoint file")
    limit: int | None = option(None, min=1, help="only the first N pockets (by id)")
    evaluate: DesignEvaluateConfig = field(default_factory=DesignEvaluateConfig)
    trainer: DockTrainerConfig = field(default_factory=DockTrainerConfig)
    output: DesignOutputConfig = field(default_factory=DesignOutputConfig)

    def __post_init__(self):
        if self.seed is None:
            self.seed = 0  # an experiment is reproducible: seed 0 unless told otherwise


# --- shipped models (``moldiff model release CONFIG.yaml``) --------------------------------------
@dataclass
class ReleaseConfig:
    """How a shipped model file is made from a training checkpoint
    (:func:`moldiff.checkpoint.release_model`): no shipped file is edited by hand."""

    name: str = option(help="the shipped name (moldiff.pretrained.MODELS)")
    output: str = option(help="the model file to write (.pt); its card is written beside it (.json)")
    checkpoint: str | None = option(None, help="the training checkpoint (best.ckpt / last.ckpt) or an exported "
                                               "model; usually given on the command line (--checkpoint)")
    card: str | None = option(None, help="JSON file of the card (data, hardware, measured figures); "
                                         "default: keep no card")
    sampling: dict = option(dict, help="sampling defaults stored with the model (SamplingConfig keys)")
