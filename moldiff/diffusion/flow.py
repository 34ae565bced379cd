"""Joint flow matching of coordinates, element types, formal charges and bond orders.

Time runs from ``t = 0`` (prior) to ``t = 1`` (data), the convention of flow matching.

* **Coordinates** -- conditional flow matching with the linear interpolant
  ``x_t = t x_1 + (1 - t) x_0`` (Lipman et al. 2023, "Flow Matching for Generative
  Modeling"), ``x_0`` a centre-of-mass-free Gaussian of standard deviation ``coord_scale`` Å,
  rotated onto each molecule (equivariant optimal transport, Klein et al. 2023 /
  SemlaFlow). The network predicts ``x_1``; the sampler integrates
  ``dx/dt = (x̂_1 - x_t) / (1 - t)`` with Euler steps.
* **Categories** (elements, charges, bonds of every atom pair) -- discrete flow matching
  (Campbell et al. 2024, "Generative Flows on Discrete State-Spaces") with a *marginal*
  prior ``p_0`` (the data's class frequencies, as MiDi's marginal diffusion, Vignac et al.
  2023): each variable holds its data value with probability ``t`` and a prior draw
  otherwise; the network predicts ``p(x_1 | x_t)`` and is trained with cross-entropy. The
  sampler draws jumps from the rate ``R_t(x -> j) = p̂(j) (1 + η (t + (1 - t) p_0(j))) / (1 - t)
  + η p̂(x) p_0(j)``: the minimal rate of this path (first term with η = 0) plus detailed-
  balance noise of strength η that lets early mistakes be undone (Campbell et al. 2024, §3.3).
* **Time** during training is drawn from ``Beta(time_alpha, 1)`` (``t = u^(1/α)``): α = 2, as
  SemlaFlow, puts more weight near the data, where bonds and charges are decided.
* **Loss** ``|x̂_1 - x_1|^2 + w_type CE_type + w_charge CE_charge + w_bond CE_bond`` with
  SemlaFlow's weights (0.2, 1, 1) by default; the bond term averages over all atom pairs.
* **Self-conditioning** (Chen et al. 2023, "Analog Bits"): in half the training steps the
  network first predicts without it and then again given that prediction; the sampler
  always passes the previous step's prediction.

Everything here is a pure function of tensors and a ``torch.Generator``; the network is passed
in (:class:`~moldiff.nn.bond_egnn.BondEGNN` has the interface).
"""
from __future__ import annotations

import torch
from torch.nn import functional as F
from torch_geometric.utils import scatter

from moldiff.geometry import remove_mean, rotation_from_covariance

#: bond classes: index = class; order 1.5 is aromatic (RDKit's double value)
BOND_ORDERS = (0.0, 1.0, 2.0, 3.0, 1.5)
BOND_NAMES = ("none", "single", "double", "triple", "aromatic")


#: ``x`` (N, 3) with each molecule's mean removed
centre = remove_mean


def upper_pairs(edge_index: torch.Tensor) -> torch.Tensor:
    """(E,) bool: the pairs with source < target (each unordered pair once)."""
    return edge_index[0] < edge_index[1]


def sample_time(n: int, alpha: float = 2.0, *, generator=None, device=None) -> torch.Tensor:
    """(n,) times from ``Beta(alpha, 1)`` (inverse CDF ``u^(1/alpha)``); alpha = 1 is uniform."""
    u = torch.rand(n, generator=generator, device=device)
    return u.pow(1.0 / alpha)


def sample_categorical(probs: torch.Tensor, shape, *, generator=None) -> torch.Tensor:
    """``shape`` draws from the class probabilities ``probs`` (K,)."""
    n = int(torch.tensor(shape).prod()) if len(shape) else 1
    if n == 0:
        return torch.zeros(shape, dtype=torch.long, device=probs.device)
    return torch.multinomial(probs, n, replacement=True, generator=generator).reshape(shape)


def prior_coords(batch: torch.Tensor, scale: float, num_graphs: int | None = None, *, generator=None) -> torch.Tensor:
    """(N, 3) Gaussian coordinates of standard deviation ``scale`` Å, centre of mass zero."""
    x = torch.randn(len(batch), 3, generator=generator, device=batch.device) * scale
    return centre(x, batch, num_graphs)


def align(x0: torch.Tensor, x1: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """``x0`` rotated (or reflected) per molecule onto ``x1`` (orthogonal Procrustes; both centred).

    The prior is isotropic, so an orthogonal map of a prior draw is another prior draw: the
    aligned pair is a shorter, less crossing path to learn (equivariant optimal transport).
    """
    cov = torch.zeros(num_graphs, 3, 3, dtype=x0.dtype, device=x0.device)
    cov.index_add_(0, batch, x0[:, :, None] * x1[:, None, :])
    rot = rotation_from_covariance(cov, proper=False)  # x0 @ rot.T ~ x1
    return torch.einsum("nj,nij->ni", x0, rot[batch])


def interpolate_categorical(x1: torch.Tensor, t_item: torch.Tensor, prior: torch.Tensor, *,
                            generator=None) -> torch.Tensor:
    """Each entry of ``x1`` kept with probability ``t_item`` (same shape), else a prior draw."""
    keep = torch.rand(x1.shape, generator=generator, device=x1.device) < t_item
    return torch.where(keep, x1, sample_categorical(prior, x1.shape, generator=generator))


def symmetric_bond_noise(bond_type: torch.Tensor, edge_index: torch.Tensor, rev: torch.Tensor,
                         t_edge: torch.Tensor, prior: torch.Tensor, *, generator=None) -> torch.Tensor:
    """:func:`interpolate_categorical` on unordered pairs, mirrored onto both directions."""
    upper = upper_pairs(edge_index)
    noisy = interpolate_categorical(bond_type, t_edge, prior, generator=generator)
    return torch.where(upper, noisy, noisy[rev])


def noisy_sample(batch, t: torch.Tensor, priors: dict, coord_scale: float, rev: torch.Tensor, *,
                 generator=None, coord_noise: float = 0.0, ot: bool = True) -> dict:
    """The interpolants at time ``t`` (B,) of a batch with ``pos``, ``atom_type``, ``charge``,
    ``edge_index``, ``bond_type`` (all pairs), ``batch``: a dict with the noisy ``pos``,
    ``atom_type``, ``charge``, ``bond_type``. ``priors``: class probabilities per variable;
    ``coord_noise``: Å of Gaussian noise added to the interpolated coordinates (SemlaFlow)."""
    b, n_graphs = batch.batch, batch.num_graphs
    x1 = centre(batch.pos, b, n_graphs)
    x0 = prior_coords(b, coord_scale, n_graphs, generator=generator)
    if ot:
        x0 = align(x0, x1, b, n_graphs)
    tn = t[b]
    pos = tn[:, None] * x1 + (1 - tn[:, None]) * x0
    if coord_noise > 0:
        pos = pos + centre(torch.randn(pos.shape, generator=generator, device=pos.device) * coord_noise, b, n_graphs)
    te = t[b[batch.edge_index[0]]]
    return {
        "pos": pos,
        "atom_type": interpolate_categorical(batch.atom_type, tn, priors["atom_type"], generator=generator),
        "charge": interpolate_categorical(batch.charge, tn, priors["charge"], generator=generator),
        "bond_type": symmetric_bond_noise(batch.bond_type, batch.edge_index, rev, te, priors["bond_type"],
                                          generator=generator),
    }


def flow_loss(pred: dict, batch, weights: dict) -> tuple[torch.Tensor, dict]:
    """``(loss, parts)``: coordinate MSE (Å², per atom) plus weighted cross-entropies of the
    element, charge and bond classes (bonds over every pair; each molecule's pairs averaged
    first, so large molecules do not dominate)."""
    b, n_graphs = batch.batch, batch.num_graphs
    x1 = centre(batch.pos, b, n_graphs)
    per_atom = ((pred["pos"] - x1) ** 2).sum(-1)
    pos = scatter(per_atom, b, dim=0, dim_size=n_graphs, reduce="mean").mean()
    types = scatter(F.cross_entropy(pred["atom_type"], batch.atom_type, reduction="none"), b, dim=0,
                    dim_size=n_graphs, reduce="mean").mean()
    charges = scatter(F.cross_entropy(pred["charge"], batch.charge, reduction="none"), b, dim=0,
                      dim_size=n_graphs, reduce="mean").mean()
    eb = b[batch.edge_index[0]]
    bonds = scatter(F.cross_entropy(pred["bond_type"], batch.bond_type, reduction="none"), eb, dim=0,
                    dim_size=n_graphs, reduce="mean").mean()
    loss = pos + weights["atom_type"] * types + weights["charge"] * charges + weights["bond_type"] * bonds
    return loss, {"pos": pos.detach(), "atom_type": types.detach(), "charge": charges.detach(),
                  "bond_type": bonds.detach()}


def probabilities(pred: dict) -> dict:
    """Softmax of the class logits of a prediction (coordinates passed through), detached."""
    return {"pos": pred["pos"].detach(), **{k: pred[k].detach().softmax(-1) for k in ("atom_type", "charge",
                                                                                       "bond_type")}}


def jump(current: torch.Tensor, probs: torch.Tensor, t: torch.Tensor, dt: float, prior: torch.Tensor,
         noise: float, *, generator=None) -> torch.Tensor:
    """One Euler step of the discrete flow for every variable: ``current`` (M,) classes, ``probs``
    (M, K) predicted ``p(x_1 | x_t)``, ``t`` (M,) its time. Rate: see the module docstring; on
    the last step (``t + dt >= 1``) the noise is off and each variable is drawn from ``probs``."""
    tt = t[:, None].clamp(max=1.0 - 1e-6)
    eta = torch.where(t[:, None] + dt < 1.0, torch.full_like(tt, noise), torch.zeros_like(tt))
    p_cur = probs.gather(1, current[:, None])
    rate = probs * (1 + eta * (tt + (1 - tt) * prior[None])) / (1 - tt) + eta * p_cur * prior[None]
    step = (dt * rate).clamp(max=1.0)
    step.scatter_(1, current[:, None], 0.0)
    stay = (1.0 - step.sum(1, keepdim=True)).clamp(min=0.0)
    step.scatter_(1, current[:, None], stay)
    return torch.multinomial(step, 1, generator=generator).squeeze(1)


def time_grid(steps: int, power: float = 1.0, device=None) -> torch.Tensor:
    """(steps + 1,) times from 0 to 1, ``t_k = 1 - (1 - k/steps)^power``: power > 1 puts more
    steps near the data, where bonds and charges settle."""
    u = torch.linspace(0.0, 1.0, steps + 1, device=device, dtype=torch.float64)
    return (1.0 - (1.0 - u) ** power).float()


@torch.no_grad()
def sample_flow(network, num_atoms: torch.Tensor, priors: dict, coord_scale: float, *, steps: int = 100,
                time_power: float = 1.0, cat_noise: float = 1.0, generator=None, device=None,
                self_condition: bool = True, last_step: str = "sample", callback=None) -> dict:
    """Generate molecules of ``num_atoms`` (B,) atoms from ``network`` in ``steps`` network calls.

    ``last_step``: how the categories are decided at the last call -- ``"sample"`` draws each
    from the predicted ``p(x_1 | x_t)`` (the flow's own distribution), ``"argmax"`` takes its
    most probable class (as FlowMol and SemlaFlow decode).

    Returns a dict of tensors on ``device``: ``pos`` (N, 3) Å, ``atom_type``, ``charge`` (N,),
    ``batch`` (N,), ``edge_index`` (2, E) every ordered pair, ``bond_type`` (E,) symmetric.
    ``callback(k, state)`` is called after each step.
    """
    from moldiff.nn.bond_egnn import reverse_edges
    from moldiff.nn.graph import full_edges

    device = torch.device(device or "cpu")
    num_atoms = num_atoms.to(device)
    batch = torch.repeat_interleave(torch.arange(len(num_atoms), device=device), num_atoms)
    n_graphs = len(num_atoms)
    edge_index = full_edges(batch)
    if last_step not in ("sample", "argmax"):
        raise ValueError(f"last_step must be 'sample' or 'argmax', not {last_step!r}")
    rev = reverse_edges(edge_index, len(batch))
    upper = upper_pairs(edge_index)
    up_idx = upper.nonzero().squeeze(1)
    pos = prior_coords(batch, coord_scale, n_graphs, generator=generator)
    atom_type = sample_categorical(priors["atom_type"], (len(batch),), generator=generator)
    charge = sample_categorical(priors["charge"], (len(batch),), generator=generator)
    bond = sample_categorical(priors["bond_type"], (edge_index.shape[1],), generator=generator)
    bond = torch.where(upper, bond, bond[rev])
    grid = time_grid(steps, time_power, device)
    sc = None
    for k in range(steps):
        t, dt = float(grid[k]), float(grid[k + 1] - grid[k])
        tb = torch.full((n_graphs,), t, device=device)
        pred = network(pos, atom_type, charge, bond, tb, batch, edge_index=edge_index, num_graphs=n_graphs,
                       self_cond=sc if self_condition else None)
        probs = probabilities(pred)
        sc = probs
        if k == steps - 1:
            pos = probs["pos"]
        else:
            pos = pos + dt * (probs["pos"] - pos) / (1.0 - t)
        bond_probs = (probs["bond_type"][up_idx] + probs["bond_type"][rev[up_idx]]) / 2
        if k == steps - 1 and last_step == "argmax":
            atom_type, charge, new_up = probs["atom_type"].argmax(1), probs["charge"].argmax(1), bond_probs.argmax(1)
        else:
            tn = torch.full((len(batch),), t, device=device)
            atom_type = jump(atom_type, probs["atom_type"], tn, dt, priors["atom_type"], cat_noise,
                             generator=generator)
            charge = jump(charge, probs["charge"], tn, dt, priors["charge"], cat_noise, generator=generator)
            new_up = jump(bond[up_idx], bond_probs, torch.full((len(up_idx),), t, device=device), dt,
                          priors["bond_type"], cat_noise, generator=generator)
        bond = bond.clone()
        bond[up_idx] = new_up
        bond[rev[up_idx]] = new_up
        if callback is not None:
            callback(k, {"pos": pos, "atom_type": atom_type, "charge": charge, "bond_type": bond})
    return {"pos": pos, "atom_type": atom_type, "charge": charge, "batch": batch, "edge_index": edge_index,
            "bond_type": bond}
