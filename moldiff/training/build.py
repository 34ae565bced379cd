"""A training run's objects from its config: the data module and the LightningModule."""
from __future__ import annotations

from moldiff.build import build_bond_network, build_codec, build_denoiser, build_schedule, is_bond_model
from moldiff.config import DataConfig, TrainConfig


def build_datamodule(cfg: DataConfig, *, bonds: bool = False, properties=()):
    """The data module named by ``cfg.name``: :class:`~moldiff.data.datamodule.QM9DataModule`
    (:class:`~moldiff.data.datamodule.QM9BondDataModule` with ``bonds``, for models that
    generate bonds) or :class:`~moldiff.data.datamodule.PocketDataModule` (``druglike`` /
    ``complexes``). ``properties``: QM9 properties the batches carry (conditional models)."""
    from moldiff.data.datamodule import PocketDataModule, QM9BondDataModule, QM9DataModule

    if cfg.name != "qm9":
        druglike = cfg.name == "druglike"
        return PocketDataModule(
            cfg.name, radius=cfg.radius, **({"smiles": cfg.smiles, "num_molecules": cfg.num_molecules,
                                             "val_fraction": cfg.val_fraction, "build_workers": cfg.build_workers}
                                            if druglike else {"root": cfg.root, "split": cfg.split}),
            batch_size=cfg.batch_size, num_workers=cfg.num_workers, limit_train=cfg.limit_train,
            limit_val=cfg.limit_val, limit_test=cfg.limit_test, seed=cfg.seed,
        )

    return (QM9BondDataModule if bonds else QM9DataModule)(
        batch_size=cfg.batch_size,
        num_workers=cfg.num_workers,
        cache=cfg.cache,
        limit_train=cfg.limit_train,
        limit_val=cfg.limit_val,
        limit_test=cfg.limit_test,
        seed=cfg.seed,
        half=cfg.half,
        properties=properties,
    )


def is_pocket_task(cfg: TrainConfig) -> bool:
    """Pocket models train on ``druglike`` / ``complexes`` data with the ``pocket_egnn`` network."""
    return cfg.data.name != "qm9"


def check_task(cfg: TrainConfig, where: str = "config") -> None:
    """Fail before any work when the data set and the network do not go together, or a section
    of the other model family is set (``flow`` belongs to ``bond_egnn``, ``diffusion`` to the rest):
    a setting that would be silently ignored is an error."""
    from moldiff.config import DiffusionConfig, FlowConfig
    from moldiff.errors import InputError

    if cfg.conditioning.properties and (cfg.data.name != "qm9" or cfg.model.name != "egnn"):
        raise InputError(f"{where}: conditioning.properties needs data.name qm9 and model.name egnn "
                         f"(got {cfg.data.name!r} and {cfg.model.name!r})")
    if cfg.conditioning.pocket_drop_prob and cfg.model.name != "pocket_egnn":
        raise InputError(f"{where}: conditioning.pocket_drop_prob applies to pocket models (model.name pocket_egnn; "
                         f"got {cfg.model.name!r})")
    if is_bond_model(cfg):
        if cfg.data.name != "qm9":
            raise InputError(f"{where}: model.name bond_egnn trains on data.name qm9 (got {cfg.data.name!r})")
        if cfg.diffusion != DiffusionConfig():
            raise InputError(f"{where}: the diffusion section does not apply to model.name bond_egnn "
                             "(a flow-matching model: set its flow section)")
        return
    if cfg.flow != FlowConfig():
        raise InputError(f"{where}: the flow section applies to model.name bond_egnn only (got {cfg.model.name!r})")
    pocket_net = cfg.model.name == "pocket_egnn"
    if is_pocket_task(cfg) != pocket_net:
        raise InputError(f"{where}: data.name {cfg.data.name!r} needs "
                         f"{'model.name: pocket_egnn' if is_pocket_task(cfg) else 'model.name egnn or e3nn'}"
                         f" (got {cfg.model.name!r})")


def build_module(cfg: TrainConfig, elements: tuple[str, ...], num_atoms_hist, size_pairs=None, priors=None,
                 conditioning: dict | None = None):
    """The LightningModule of a run (denoiser, schedule, codec and optimiser settings).
    ``conditioning``: the training data's property statistics of a conditional run
    (:attr:`moldiff.data.datamodule.QM9DataModule.conditioning`)."""
    from moldiff.config import to_dict
    from moldiff.training.module import DiffusionModule, PocketDiffusionModule

    check_task(cfg)
    if is_bond_model(cfg):
        from moldiff.data.qm9_bonds import CHARGES
        from moldiff.diffusion.flow import BOND_ORDERS
        from moldiff.training.module import FlowModule

        f = cfg.flow
        return FlowModule(
            build_bond_network(cfg.model, len(elements), len(CHARGES), len(BOND_ORDERS)), elements, num_atoms_hist,
            priors=priors, charges=CHARGES, coord_scale=f.coord_scale, time_alpha=f.time_alpha,
            weights={"atom_type": f.type_weight, "charge": f.charge_weight, "bond_type": f.bond_weight},
            coord_noise=f.coord_noise, optimal_transport=f.optimal_transport,
            self_condition_prob=f.self_condition_prob, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay,
            ema_decay=cfg.optim.ema_decay, lr_schedule=cfg.optim.lr_schedule, warmup_steps=cfg.optim.warmup_steps,
            run_config=to_dict(cfg))
    codec = build_codec(cfg.diffusion, len(elements))
    kwargs = {"size_pairs": size_pairs, "pocket_drop_prob": cfg.conditioning.pocket_drop_prob} \
        if is_pocket_task(cfg) else {}
    cls = PocketDiffusionModule if is_pocket_task(cfg) else DiffusionModule
    if cfg.conditioning.properties:
        kwargs["conditioning"] = {"properties": list(cfg.conditioning.properties),
                                  "drop_prob": cfg.conditioning.drop_prob, **(conditioning or {})}
    return cls(
        denoiser=build_denoiser(cfg.model, codec.num_features, context_dim=len(cfg.conditioning.properties)),
        schedule=build_schedule(cfg.diffusion),
        codec=codec,
        elements=elements,
        num_atoms_hist=num_atoms_hist,
        parameterization=cfg.diffusion.parameterization,
        lr=cfg.optim.lr,
        weight_decay=cfg.optim.weight_decay,
        ema_decay=cfg.optim.ema_decay,
        lr_schedule=cfg.optim.lr_schedule,
        warmup_steps=cfg.optim.warmup_steps,
        run_config=to_dict(cfg),
        **kwargs,
    )
