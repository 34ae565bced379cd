"""Pocket-conditioned diffusion: ligand atoms are diffused inside a fixed pocket.

Frame: each complex is shifted so that its pocket atoms' centre is the origin; the
ligand's position noise is a plain Gaussian (not CoM-free: where the ligand sits in the
pocket is part of what is generated) and sampling starts from N(0, I) at the pocket
centre. Results are shifted back to the protein's frame. Used with
:class:`~moldiff.nn.pocket_egnn.PocketEGNNDenoiser` (TargetDiff's choice of frame).

Batches come from PyG ``DataLoader(..., follow_batch=["pocket_pos"])`` over
:func:`~moldiff.data.complexes.complex_graph` graphs, which adds ``pocket_pos_batch``.
"""
from __future__ import annotations

import torch
from torch.nn.functional import one_hot


from moldiff.chem.tables import AMINO_ACIDS, POCKET_ELEMENTS
from moldiff.diffusion.features import FeatureCodec
from moldiff.diffusion.guidance import LIGAND_CENTER_RADIUS, Connect, Frame, FragmentJoin, KeepInPocket, bind_all
from moldiff.diffusion.loss import diffusion_loss
from moldiff.diffusion.schedule import VPSchedule
from moldiff.geometry import graph_means

#: pocket feature width: element one-hot, residue one-hot (20 + other), backbone flag
POCKET_FEATURES = len(POCKET_ELEMENTS) + len(AMINO_ACIDS) + 1 + 1


def encode_pocket(atom_type: torch.Tensor, residue_type: torch.Tensor, backbone: torch.Tensor,
                  dtype=torch.float32) -> torch.Tensor:
    """Pocket atom features (M, :data:`POCKET_FEATURES`)."""
    return torch.cat([one_hot(atom_type, len(POCKET_ELEMENTS)), one_hot(residue_type, len(AMINO_ACIDS) + 1),
                      backbone.reshape(-1, 1).long()], dim=1).to(dtype)


def pocket_centres(pocket_pos: torch.Tensor, pocket_batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """(B, 3) mean position of each complex's pocket atoms."""
    return graph_means(pocket_pos, pocket_batch, num_graphs)


def pocket_context(batch, dtype=torch.float32) -> tuple[dict, torch.Tensor]:
    """Denoiser keyword arguments for a batch of complexes, in pocket-centred frames, and the centres."""
    pocket_batch = batch.pocket_pos_batch
    centres = pocket_centres(batch.pocket_pos.to(dtype), pocket_batch, batch.num_graphs)
    context = {
        "pocket_pos": batch.pocket_pos.to(dtype) - centres[pocket_batch],
        "pocket_h": encode_pocket(batch.pocket_type, batch.pocket_residue_type, batch.pocket_backbone, dtype),
        "pocket_batch": pocket_batch,
    }
    return context, centres


def without_pockets(context: dict, drop: torch.Tensor) -> dict:
    """``context`` (:func:`pocket_context`) with the pocket atoms of the complexes ``drop`` (B,)
    bool left out: those ligands are seen alone."""
    keep = ~drop[context["pocket_batch"]]
    return {**context, "pocket_pos": context["pocket_pos"][keep], "pocket_h": context["pocket_h"][keep],
            "pocket_batch": context["pocket_batch"][keep]}


def pocket_diffusion_loss(denoiser, schedule: VPSchedule, codec: FeatureCodec, batch, *,
                          parameterization: str = "eps", generator: torch.Generator | None = None,
                          drop_prob: float = 0.0):
    """:func:`~moldiff.diffusion.loss.diffusion_loss` for ligands in their pockets.

    A batch without pocket atoms (drug-like pre-training) has no frame to place the ligand
    in: the network only sees relative vectors, so the noise's centre of mass would be
    unlearnable; such ligands are centred and get zero-CoM noise, as free molecules do.
    ``drop_prob``: each complex's pocket is left out with this probability and its ligand
    treated the same way (pocket dropout, so that the network also learns the pocket-free
    model that classifier-free guidance needs: :class:`~moldiff.diffusion.wrappers.PocketFreeGuidance`).
    """
    dtype = batch.pos.dtype
    context, centres = pocket_context(batch, dtype)
    com_free: bool | torch.Tensor = batch.pocket_pos.shape[0] == 0
    if com_free:
        centres = graph_means(batch.pos, batch.batch, batch.num_graphs)
    elif drop_prob > 0:
        drop = torch.rand(batch.num_graphs, generator=generator, device=batch.pos.device) < drop_prob
        context = without_pockets(context, drop)
        centres = torch.where(drop.unsqueeze(-1), graph_means(batch.pos, batch.batch, batch.num_graphs), centres)
        com_free = drop
    pos = batch.pos - centres[batch.batch]
    h = codec.encode(batch.atom_type, batch.charge, dtype=dtype)
    return diffusion_loss(denoiser, schedule, pos, h, batch.batch, batch.num_graphs, parameterization=parameterization,
                          generator=generator, com_free=com_free, context=context)


@torch.no_grad()
def sample_in_pocket(denoiser, schedule: VPSchedule, codec: FeatureCodec, elements, pocket_batch, num_atoms, *,
                     steps: int, sampler: str = "ddpm", parameterization: str = "eps",
                     generator: torch.Generator | None = None, callback=None, fixed_h: torch.Tensor | None = None,
                     guidance=(KeepInPocket(LIGAND_CENTER_RADIUS),), time_power: float = 1.0,
                     noise_scale: float = 1.0, known: tuple | None = None, guidance_scale: float | None = None):
    """Generate one ligand per pocket of ``pocket_batch`` (a batch with ``pocket_*`` fields
    and ``pocket_pos_batch``), ``num_atoms`` (B,) atoms each. Returns
    :class:`~moldiff.chem.Mol3D` records in the protein's frame (no bonds yet).

    ``guidance``: the transforms of the predicted clean structure at every step, in order
    (:mod:`moldiff.diffusion.guidance`): specs such as :class:`KeepInPocket` (the default: the
    ligand within the pocket's extent, its centre within 7 Å of the pocket centre), ``VinaEnergy``,
    :class:`Connect`, ``Clash``, bound here to the batch's pocket-centred frame, or plain
    callables (docking's conformer projection). With :class:`Connect` in the list the returned
    structures are joined once more (the last step's other transforms may split them).
    ``fixed_h``: the ligands' encoded atom features when they are given (docking), all
    molecules in order. ``time_power``, ``noise_scale``: the step grid and temperature
    (:func:`~moldiff.diffusion.generate.sample_molecules`). ``known``: ``(pos (K, 3), h (K, F),
    closed (K,) bool[, ends (2,)[, region (M, 3)[, held (E, 3)]]])``, atoms every ligand keeps (protein frame, encoded features,
    the ones with no hydrogen to give up; fragment growing): the first K atoms of each ligand,
    generated around and returned exactly as given; other atoms are joined to open kept atoms
    only and kept off closed ones (:class:`_KeepOff`). ``ends``: linking -- two kept atoms the
    other atoms bridge: they are held within :data:`LINK_TUBE` Å of the segment between them
    (:class:`_Bridge`), and with ``held`` (where a linker atom bonded to each end sits) the
    first new atoms within :data:`EXIT_REACH` Å of those, one each (:class:`_Hold`).
    ``region``: scaffold hopping -- the replaced core's atoms (protein frame): the other atoms
    are held within :data:`HOP_REACH` Å of them, and with ``held`` (the old core atoms bonded to
    kept ones, then those on the shortest paths joining them) the first E new atoms within
    :data:`EXIT_REACH` Å of those, one each, so that every kept substituent finds a new atom to
    bond to and a chain of new atoms to the others (:class:`_Near`).
    ``guidance_scale``: classifier-free guidance on the pocket
    (:class:`~moldiff.diffusion.wrappers.PocketFreeGuidance`; a model trained with pocket
    dropout); ``None`` or 1: the plain pocket model."""
    from moldiff.diffusion.generate import sample_molecules
    from moldiff.diffusion.wrappers import PocketFreeGuidance

    device = next(denoiser.parameters()).device
    if guidance_scale is not None and guidance_scale != 1.0:
        denoiser = PocketFreeGuidance(denoiser, guidance_scale)
    context, centres = pocket_context(pocket_batch.to(device))
    batch = torch.repeat_interleave(torch.arange(len(num_atoms), device=device), num_atoms.to(device))
    mask = state = closed = None
    if known is not None:
        k = len(known[0])
        starts = torch.cumsum(num_atoms.to(device), 0) - num_atoms.to(device)
        rank = torch.arange(len(batch), device=device) - starts[batch]
        mask = rank < k
        state = torch.zeros(len(batch), 3 + codec.num_features, device=device)
        state[mask, :3] = known[0].to(device=device, dtype=state.dtype).repeat(len(num_atoms), 1) - centres[batch[mask]]
        state[mask, 3:] = known[1].to(device=device, dtype=state.dtype).repeat(len(num_atoms), 1)
        closed = torch.zeros(len(batch), dtype=torch.bool, device=device)
        closed[mask] = known[2].to(device).repeat(len(num_atoms))
        bridge = ()
        held = None if len(known) < 6 or known[5] is None else \
            torch.as_tensor(known[5], dtype=state.dtype, device=device)
        if len(known) > 3 and known[3] is not None:
            ends = known[0].to(device=device, dtype=state.dtype)[known[3]]  # (2, 3), protein frame
            bridge = (_Bridge(~mask, batch, ends[0] - centres, ends[1] - centres),)
            if held is not None:  # the linker's atoms bonded to the ends
                bridge = (*bridge, _Hold(~mask, batch, held, centres, rank - k))
        if len(known) > 4 and known[4] is not None:
            bridge = (*bridge, _Near(~mask, batch, torch.as_tensor(known[4], dtype=state.dtype, device=device), centres,
                                     exits=held, slot=rank - k))
        guidance = (_Pin(state[:, :3], mask), *guidance, *bridge, _KeepOff(mask, closed, batch))
    frame = Frame(batch, len(num_atoms), context["pocket_pos"], context["pocket_batch"], tuple(elements), mask,
                  closed)
    out = sample_molecules(denoiser, schedule, codec, elements, num_atoms, steps=steps, sampler=sampler,
                           parameterization=parameterization, generator=generator, device=device,
                           callback=callback, context=context, offset=centres, fixed_h=fixed_h,
                           x0_transforms=bind_all(guidance, frame), time_power=time_power, noise_scale=noise_scale,
                           known=None if known is None else (state, mask))
    hopping = known is not None and len(known) > 4 and known[4] is not None  # (a join would move the new core off)
    if any(isinstance(g, Connect) for g in guidance) and not hopping:  # the last push may have split the last join
        for m in out:
            if m is not None and m.num_atoms > 1:
                single = torch.zeros(m.num_atoms, dtype=torch.long)
                anchor = shut = None
                if known is not None:
                    anchor = torch.arange(m.num_atoms) < len(known[0])
                    shut = torch.cat([known[2].cpu(), torch.zeros(m.num_atoms - len(known[0]), dtype=torch.bool)])
                m.pos = FragmentJoin(single, anchor=anchor, closed=shut)(torch.as_tensor(m.pos)).numpy()
    return out


class _Pin:
    """The first transform of fragment growing: the kept atoms of the predicted clean structure
    put where they are given, so that the guidance after it works around them."""

    def __init__(self, pos: torch.Tensor, mask: torch.Tensor):
        self.pos, self.mask = pos, mask

    def __call__(self, x0, h0=None, t=None):
        return torch.where(self.mask[:, None], self.pos.to(x0.dtype), x0)


#: Å: in linking, the new atoms are kept this close to the segment between the two pieces' ends
LINK_TUBE = 1.5


class _Bridge:
    """Linking: every new atom of the predicted clean structure moved to within
    :data:`LINK_TUBE` Å of the segment between its molecule's two link ends, ``a`` and ``b`` (B, 3)."""

    def __init__(self, free: torch.Tensor, batch: torch.Tensor, a: torch.Tensor, b: torch.Tensor):
        self.free, self.batch, self.a, self.b = free, batch, a, b

    def __call__(self, x0, h0=None, t=None):
        a, b = self.a.to(x0.dtype)[self.batch], self.b.to(x0.dtype)[self.batch]
        ab = b - a
        along = (((x0 - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-9)).clamp(0, 1)
        nearest = a + along[:, None] * ab
        off = x0 - nearest
        dist = off.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        pulled = nearest + off * (LINK_TUBE / dist).clamp(max=1.0)
        return torch.where(self.free[:, None], pulled, x0)


#: Å: in scaffold hopping, the new atoms are kept this close to some atom of the core they replace
#: (the new core takes the old one's place in the pocket, its shape free within that reach)
HOP_REACH = 1.5
#: Å: ... and the new atom given each exit (an old core atom bonded to a kept one) or each old
#: core atom on the paths between exits this close to it (in linking: the linker atom given each
#: link end's target, :func:`~moldiff.ligand_design.link_targets`)
EXIT_REACH = 0.3


class _Near:
    """Scaffold hopping: every new atom of the predicted clean structure moved to within
    :data:`HOP_REACH` Å of its nearest atom of the replaced core, ``region`` (M, 3) in the
    protein frame (``centres`` (B, 3): each molecule's frame origin in it); with ``exits``
    (E, 3), the new atom of ``slot`` e (its rank among its molecule's new atoms, (N,)) to within
    :data:`EXIT_REACH` Å of exit e instead."""

    def __init__(self, free: torch.Tensor, batch: torch.Tensor, region: torch.Tensor, centres: torch.Tensor,
                 exits: torch.Tensor | None = None, slot: torch.Tensor | None = None):
        self.free, self.batch = free, batch
        self.region = region[None] - centres[:, None]                     # (B, M, 3), each frame
        self.exit = _Hold(free, batch, exits, centres, slot) if exits is not None and len(exits) else None

    def __call__(self, x0, h0=None, t=None):
        region = self.region.to(x0.dtype)[self.batch]                      # (N, M, 3)
        off = x0[:, None] - region
        dist = off.norm(dim=-1)
        nearest = dist.argmin(1)
        rows = torch.arange(len(x0), device=x0.device)
        off, dist = off[rows, nearest], dist[rows, nearest].clamp_min(1e-9)[:, None]
        pulled = region[rows, nearest] + off * (HOP_REACH / dist).clamp(max=1.0)
        out = torch.where(self.free[:, None], pulled, x0)
        return out if self.exit is None else self.exit(x0, others=out)


class _Hold:
    """Linking's link-end targets, scaffold hopping's exits and paths (inside :class:`_Near`): the
    new atom of ``slot`` e (its rank among its molecule's new atoms, (N,)) of the predicted clean
    structure moved to within :data:`EXIT_REACH` Å of ``targets[e]`` ((E, 3), protein frame;
    ``centres`` (B, 3) each molecule's frame origin in it). ``others``: the positions returned for
    the atoms not held (default ``x0``)."""

    def __init__(self, free: torch.Tensor, batch: torch.Tensor, targets: torch.Tensor, centres: torch.Tensor,
                 slot: torch.Tensor):
        self.held = free & (slot >= 0) & (slot < len(targets))
        self.target = targets[slot.clamp(0, len(targets) - 1)] - centres[batch]  # (N, 3)

    def __call__(self, x0, h0=None, t=None, *, others=None):
        target = self.target.to(x0.dtype)
        off = x0 - target
        dist = off.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        return torch.where(self.held[:, None], target + off * (EXIT_REACH / dist).clamp(max=1.0),
                           x0 if others is None else others)


class _KeepOff:
    """The last transform of fragment growing: every other atom moved straight away from a kept
    atom it is too close to -- :data:`~moldiff.diffusion.guidance.MIN_DISTANCE` from an open
    one, :data:`~moldiff.diffusion.guidance.SPREAD_DISTANCE` (no bond) from a closed one."""

    def __init__(self, mask: torch.Tensor, closed: torch.Tensor, batch: torch.Tensor):
        from moldiff.diffusion.guidance import MIN_DISTANCE, SPREAD_DISTANCE

        self.mask, self.batch = mask, batch
        self.limit = torch.where(closed, SPREAD_DISTANCE, MIN_DISTANCE)

    def __call__(self, x0, h0=None, t=None):
        free, kept = (~self.mask).nonzero().squeeze(1), self.mask.nonzero().squeeze(1)
        if len(free) == 0 or len(kept) == 0:
            return x0
        x0 = x0.clone()
        for _ in range(3):
            gap = x0[free][:, None] - x0[kept][None]                      # (F, K, 3)
            dist = gap.norm(dim=-1).clamp_min(1e-6)
            short = (self.limit[kept][None] - dist).clamp_min(0)
            short = short * (self.batch[free][:, None] == self.batch[kept][None])
            if not (short > 0).any():
                break
            x0[free] = x0[free] + (gap / dist[..., None] * short[..., None]).sum(1)
        return x0


def pocket_batch_from(pocket_data, copies: int):
    """``copies`` copies of one pocket (:func:`~moldiff.data.protein.pocket_graph` output) as a
    batch for :func:`sample_in_pocket`."""
    from torch_geometric.data import Batch, Data

    one = Data(pocket_pos=pocket_data.pos, pocket_type=pocket_data.atom_type,
               pocket_residue_type=pocket_data.residue_type, pocket_backbone=pocket_data.backbone.long(),
               num_nodes=0)
    return Batch.from_data_list([one] * copies, follow_batch=["pocket_pos"])
