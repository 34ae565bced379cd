"""A thin LightningModule around a denoiser: loss, optimiser, EMA, self-describing checkpoints."""
from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from torch.optim.swa_utils import AveragedModel

from moldiff import __version__
from moldiff.checkpoint import CHECKPOINT_FORMAT, SCHEMA_VERSION
from moldiff.diffusion.features import FeatureCodec
from moldiff.diffusion.loss import diffusion_loss
from moldiff.diffusion.pocket import pocket_diffusion_loss
from moldiff.diffusion.schedule import VPSchedule


def ema_with_warmup(decay: float):
    """EMA update with warm-up: ``d_n = min(decay, (1 + n) / (10 + n))`` after n updates.

    A plain EMA started from the random initial weights keeps ``decay^n`` of them
    (0.999^1563 = 21 % after one QM9 epoch at batch 64), so early samples come from a
    mostly untrained network; the warm-up forgets the initialisation within a few steps.
    """

    def update(ema_params, params, num_averaged):
        n = float(num_averaged)
        d = min(decay, (1.0 + n) / (10.0 + n))
        torch._foreach_lerp_(ema_params, params, 1.0 - d)

    return update


class DiffusionModule(pl.LightningModule):
    #: what the model generates: ``"molecules"`` (free molecules) or ``"pocket"`` (ligands in a pocket)
    task = "molecules"

    """Trains ``denoiser`` with :func:`~moldiff.diffusion.loss.diffusion_loss`.

    Args:
        denoiser: the network. schedule: noise schedule. codec: atom feature codec.
        elements: element vocabulary (``atom_type`` indexes it).
        num_atoms_hist: training-split atom-count histogram (kept for sampling).
        parameterization: ``"eps"``, ``"x0"`` or ``"v"``.
        lr, weight_decay: AdamW. ema_decay: decay of the weight EMA used for validation
            and sampling. lr_schedule: ``"constant"`` or ``"cosine"`` (over the run's
            estimated steps) after ``warmup_steps`` of linear warm-up.
        run_config: the resolved run configuration, stored in checkpoints (metadata only).
        conditioning: property conditioning: ``properties`` (names), ``drop_prob`` (share of
            molecules trained without their condition: classifier-free guidance), ``mean``,
            ``mad`` (normalisation) and ``table`` ((M, 1 + P) atom counts and values to sample
            conditions from), kept as buffers in checkpoints. ``None``: unconditional.
    """

    def __init__(self, denoiser: torch.nn.Module, schedule: VPSchedule, codec: FeatureCodec, elements, num_atoms_hist,
                 *, parameterization: str = "eps", lr: float = 1e-4, weight_decay: float = 1e-12,
                 ema_decay: float = 0.999, lr_schedule: str = "constant", warmup_steps: int = 0,
                 run_config: dict | None = None, conditioning: dict | None = None) -> None:
        super().__init__()
        cond = conditioning or {}
        self.condition_names = tuple(cond.get("properties", ()))
        self.condition_drop = float(cond.get("drop_prob", 0.0))
        if self.condition_names:
            for key in ("mean", "mad", "table"):
                self.register_buffer(f"condition_{key}", torch.as_tensor(cond[key], dtype=torch.float32))
        self.denoiser = denoiser
        self.ema = AveragedModel(denoiser, multi_avg_fn=ema_with_warmup(ema_decay), use_buffers=True)
        self.ema.requires_grad_(False)
        self.schedule, self.codec = schedule, codec
        self.elements = tuple(elements)
        self.register_buffer("num_atoms_hist", torch.as_tensor(num_atoms_hist, dtype=torch.long))
        self.parameterization = parameterization
        self.lr, self.weight_decay = lr, weight_decay
        self.lr_schedule, self.warmup_steps = lr_schedule, warmup_steps
        self.run_config = run_config or {}

    # --- training ---------------------------------------------------------------------
    def _condition(self, batch, generator=None) -> dict | None:
        """The denoiser's condition kwargs for a batch: normalised values, each molecule's
        dropped with probability ``condition_drop``."""
        if not self.condition_names:
            return None
        c = (batch.y.to(batch.pos.dtype) - self.condition_mean) / self.condition_mad
        keep = torch.rand(batch.num_graphs, generator=generator, device=c.device) >= self.condition_drop
        return {"condition": c, "condition_mask": keep}

    def _loss(self, batch, denoiser, generator=None):
        h = self.codec.encode(batch.atom_type, batch.charge, dtype=batch.pos.dtype)
        return diffusion_loss(denoiser, self.schedule, batch.pos, h, batch.batch, batch.num_graphs,
                              parameterization=self.parameterization, generator=generator,
                              context=self._condition(batch, generator))

    def training_step(self, batch, batch_idx):
        loss, parts = self._loss(batch, self.denoiser)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss at step {self.global_step}")
        n = batch.num_graphs
        self.log("train/loss", loss, prog_bar=True, batch_size=n, sync_dist=False)
        self.log_dict({f"train/{k}": v for k, v in parts.items()}, batch_size=n)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        self.ema.update_parameters(self.denoiser)

    def validation_step(self, batch, batch_idx):
        # a fixed generator per batch: the validation loss is comparable across epochs
        gen = torch.Generator(device=batch.pos.device).manual_seed(batch_idx)
        loss, _ = self._loss(batch, self.ema.module, generator=gen)
        self.log("val/loss", loss, prog_bar=True, batch_size=batch.num_graphs, sync_dist=True)
        return loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.denoiser.parameters(), lr=self.lr, weight_decay=self.weight_decay, amsgrad=True)
        if self.lr_schedule == "constant" and self.warmup_steps == 0:
            return opt
        total = max(int(self.trainer.estimated_stepping_batches), 1) if self.trainer else 1
        warm, cosine = self.warmup_steps, self.lr_schedule == "cosine"

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            if not cosine:
                return 1.0
            progress = min((step - warm) / max(total - warm, 1), 1.0)
            return 0.5 * (1.0 + math.cos(math.pi * progress))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # --- checkpoints ------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["moldiff"] = {
            "format": CHECKPOINT_FORMAT,
            "schema_version": SCHEMA_VERSION,
            "moldiff_version": __version__,
            "config": self.run_config,
            "elements": list(self.elements),
            "task": self.task,
        }


class PocketDiffusionModule(DiffusionModule):
    """Trains a pocket-conditioned denoiser (:class:`~moldiff.nn.pocket_egnn.PocketEGNNDenoiser`)
    with :func:`~moldiff.diffusion.pocket.pocket_diffusion_loss`; ligands without a pocket
    (pre-training) are centred and see an empty pocket.

    Extra args: ``size_pairs`` (2, M) pocket atoms and ligand atoms of the training complexes,
    kept to sample the ligand size given a pocket. ``pocket_drop_prob``: share of complexes
    whose ligand is trained without its pocket (classifier-free guidance on the pocket).
    """

    task = "pocket"

    def __init__(self, *args, size_pairs=None, pocket_drop_prob: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        pairs = torch.zeros(2, 0, dtype=torch.long) if size_pairs is None else torch.as_tensor(size_pairs)
        self.register_buffer("size_pairs", pairs.long())
        self.pocket_drop_prob = float(pocket_drop_prob)

    def _loss(self, batch, denoiser, generator=None):
        return pocket_diffusion_loss(denoiser, self.schedule, self.codec, batch,
                                     parameterization=self.parameterization, generator=generator,
                                     drop_prob=self.pocket_drop_prob)


class FlowModule(DiffusionModule):
    """Trains the bond-generating family (:class:`~moldiff.nn.bond_egnn.BondEGNN`) by joint flow
    matching of coordinates, elements, charges and bonds (:mod:`moldiff.diffusion.flow`).

    Args (besides the optimiser/EMA ones of :class:`DiffusionModule`):
        network: the joint denoiser. priors: class frequencies ``atom_type`` (K,), ``charge``
            (C,), ``bond_type`` (T,) of the training data (the categorical priors; kept in
            checkpoints for sampling). charges: the formal charge of each charge class.
        coord_scale: Å, standard deviation of the coordinate prior. time_alpha: training
            times from Beta(time_alpha, 1). weights: cross-entropy weights ``atom_type``,
            ``charge``, ``bond_type``. coord_noise: Å of noise on the interpolants.
        optimal_transport: rotate prior draws onto their molecules. self_condition_prob:
            share of steps trained with self-conditioning.
    """

    task = "bonds"

    def __init__(self, network, elements, num_atoms_hist, *, priors: dict, charges, coord_scale: float = 1.0,
                 time_alpha: float = 2.0, weights: dict | None = None, coord_noise: float = 0.1,
                 optimal_transport: bool = True, self_condition_prob: float = 0.5, **kwargs) -> None:
        super().__init__(network, None, None, elements, num_atoms_hist, parameterization="x0", **kwargs)
        for name in ("atom_type", "charge", "bond_type"):
            self.register_buffer(f"prior_{name}", torch.as_tensor(priors[name], dtype=torch.float32))
        self.register_buffer("charges", torch.as_tensor(charges, dtype=torch.long))
        self.coord_scale, self.time_alpha, self.coord_noise = coord_scale, time_alpha, coord_noise
        self.weights = weights or {"atom_type": 0.2, "charge": 1.0, "bond_type": 1.0}
        self.optimal_transport, self.self_condition_prob = optimal_transport, self_condition_prob

    @property
    def priors(self) -> dict:
        return {name: getattr(self, f"prior_{name}") for name in ("atom_type", "charge", "bond_type")}

    def _loss(self, batch, network, generator=None):
        from moldiff.diffusion.flow import flow_loss, noisy_sample, probabilities, sample_time
        from moldiff.nn.bond_egnn import reverse_edges

        device, n = batch.pos.device, batch.num_graphs
        t = sample_time(n, self.time_alpha, generator=generator, device=device)
        rev = reverse_edges(batch.edge_index, batch.num_nodes)
        noisy = noisy_sample(batch, t, self.priors, self.coord_scale, rev, generator=generator,
                             coord_noise=self.coord_noise, ot=self.optimal_transport)
        args = (noisy["pos"], noisy["atom_type"], noisy["charge"], noisy["bond_type"], t, batch.batch)
        kwargs = {"edge_index": batch.edge_index, "num_graphs": n}
        sc = None
        if getattr(network, "self_condition", False) and \
                float(torch.rand(1, generator=generator, device=device)) < self.self_condition_prob:
            with torch.no_grad():
                sc = probabilities(network(*args, **kwargs))
        return flow_loss(network(*args, **kwargs, self_cond=sc), batch, self.weights)
