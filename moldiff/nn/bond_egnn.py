"""An E(3)-equivariant network over atoms *and atom pairs*: the joint denoiser of coordinates,
element types, formal charges and bond orders.

EGNN message passing (Satorras et al. 2021, "E(n) Equivariant Graph Neural Networks") with
learned features on every ordered atom pair that enter the messages and are updated by them,
as in EQGAT-diff (Le et al. 2024, "Navigating the Design Space of Equivariant Diffusion-Based
Generative Models for De Novo 3D Molecule Generation") and SemlaFlow (Irwin et al. 2024,
"Efficient 3D Molecular Generation with Flow Matching and Scale Optimal Transport"); self-
conditioning inputs as in SemlaFlow (the previous step's predictions, coordinates entering
only through their pairwise distances, so equivariance is kept).

Declared inputs and outputs (N atoms, E ordered pairs ``i != j`` within each molecule,
B molecules; K element types, C charge classes, T bond classes)::

    pos         (N, 3) float, Å    noisy coordinates x_t, centre of mass zero per molecule
    atom_type   (N,) long          noisy element class, index into the model's vocabulary
    charge      (N,) long          noisy charge class, index into the model's charge vocabulary
    edge_index  (2, E) long        [source, target]; every ordered pair of a molecule once
    bond_type   (E,) long          noisy bond class of each pair (the same for (i, j) and (j, i))
    t           (B,) float         time in [0, 1], t = 1 is data
    batch       (N,) long          molecule of each atom
    self_cond   optional dict of the previous predictions: pos (N, 3), atom_type (N, K),
                charge (N, C), bond_type (E, T) probabilities

    returns dict: pos (N, 3) predicted clean coordinates (centre of mass zero, equivariant),
                  atom_type (N, K), charge (N, C), bond_type (E, T) logits (invariant;
                  bond logits symmetric in (i, j))

Every operation reads coordinates only through differences and distances, and atoms and
pairs only through sums over neighbours: the network is E(3)-equivariant (rotations,
reflections, translations) and permutation-equivariant on atoms and pairs
(``tests/test_bond_model.py`` checks both with :mod:`moldiff.testing`).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch_geometric.utils import scatter

from moldiff.nn.egnn import _PairMLP
from moldiff.nn.graph import full_edges


def remove_mean(x: torch.Tensor, batch: torch.Tensor, num_graphs: int | None = None) -> torch.Tensor:
    """``x`` minus its per-molecule mean: (N, 3) -> (N, 3)."""
    mean = scatter(x, batch, dim=0, dim_size=num_graphs, reduce="mean")
    return x - mean[batch]


def reverse_edges(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """(E,) index of the pair ``(j, i)`` for each pair ``(i, j)`` of ``edge_index``; every pair's
    reverse must be present (as in :func:`~moldiff.nn.graph.full_edges`)."""
    src, dst = edge_index
    key = src * num_nodes + dst
    order = key.argsort()
    rev = torch.searchsorted(key[order], dst * num_nodes + src)
    return order[rev]


class GaussianRBF(nn.Module):
    """Distances (..., 1) Å -> (..., num) Gaussian features with centres on [0, cutoff]."""

    def __init__(self, num: int = 16, cutoff: float = 10.0) -> None:
        super().__init__()
        self.register_buffer("centres", torch.linspace(0.0, cutoff, num))
        self.gamma = (num / cutoff) ** 2 / 2

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return torch.exp(-self.gamma * (d - self.centres) ** 2)


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) times in [0, 1] -> (B, dim) sinusoidal features (Vaswani et al. 2017)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=t.dtype) / max(half - 1, 1))
    angles = (1000.0 * t)[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class BondEGNNLayer(nn.Module):
    """One block: messages from (atom, atom, pair, distance) features; atom update, pair update
    and an equivariant coordinate step, each from the same messages.

    Args:
        hidden: atom feature width. edge_hidden: pair feature width. num_rbf: distance features.
        coords_range: bound of each pair's coordinate step, Å. norm_factor: aggregation divisor.
    """

    def __init__(self, hidden: int, edge_hidden: int, num_rbf: int = 16, coords_range: float = 2.0,
                 norm_factor: float = 10.0) -> None:
        super().__init__()
        act = nn.SiLU()
        self.rbf = GaussianRBF(num_rbf)
        self.message = _PairMLP(hidden, edge_hidden + num_rbf, [nn.Linear(hidden, hidden), act])
        self.gate = nn.Sequential(nn.Linear(hidden, 1), nn.Sigmoid())
        self.node = nn.Sequential(nn.Linear(2 * hidden, hidden), act, nn.Linear(hidden, hidden))
        self.node_norm = nn.LayerNorm(hidden)
        self.edge = nn.Sequential(nn.Linear(hidden + edge_hidden, edge_hidden), act,
                                  nn.Linear(edge_hidden, edge_hidden))
        self.edge_norm = nn.LayerNorm(edge_hidden)
        last = nn.Linear(max(hidden // 4, 1), 1, bias=False)
        nn.init.xavier_uniform_(last.weight, gain=0.001)
        self.coord = nn.Sequential(nn.Linear(hidden, max(hidden // 4, 1)), act, last)
        self.coords_range, self.norm_factor = coords_range, norm_factor

    def forward(self, h, x, e, edge_index):
        """h (N, hidden), x (N, 3) Å, e (E, edge_hidden), edge_index (2, E) -> (h, x, e)."""
        src, dst = edge_index
        diff = x[dst] - x[src]
        dist = diff.norm(dim=-1, keepdim=True)
        m = self.message(h, edge_index, torch.cat([e, self.rbf(dist)], dim=-1))
        m = m * self.gate(m)
        agg = scatter(m, dst, dim=0, dim_size=h.shape[0], reduce="sum") / self.norm_factor
        h = self.node_norm(h + self.node(torch.cat([h, agg], dim=-1)))
        e = self.edge_norm(e + self.edge(torch.cat([m, e], dim=-1)))
        step = diff / (dist + 1.0) * torch.tanh(self.coord(m)) * self.coords_range
        x = x + scatter(step, dst, dim=0, dim_size=x.shape[0], reduce="sum") / self.norm_factor
        return h, x, e


class BondEGNN(nn.Module):
    """Joint atoms/charges/bonds/coordinates denoiser (see the module docstring for shapes).

    Args:
        num_types: K element classes. num_charges: C charge classes. num_bonds: T bond classes
            (class 0 = no bond).
        hidden: atom feature width. edge_hidden: pair feature width. layers: blocks.
        num_rbf: Gaussian distance features. coords_range: bound of a block's coordinate step
            per pair, Å. norm_factor: aggregation divisor (about the typical neighbour count).
        self_condition: accept the previous predictions as inputs (``self_cond``).
        graph: the pair builder, ``graph(batch) -> edge_index`` (default: every ordered pair of
            a molecule, :func:`~moldiff.nn.graph.full_edges`), used when ``edge_index`` is None.
    """

    def __init__(self, num_types: int, num_charges: int, num_bonds: int, hidden: int = 128, edge_hidden: int = 64,
                 layers: int = 6, num_rbf: int = 16, coords_range: float = 2.0, norm_factor: float = 10.0,
                 self_condition: bool = True, time_dim: int = 16, graph=full_edges) -> None:
        super().__init__()
        self.num_types, self.num_charges, self.num_bonds = num_types, num_charges, num_bonds
        self.self_condition, self.time_dim, self.graph = self_condition, time_dim, graph
        sc = 2 if self_condition else 1
        self.rbf = GaussianRBF(num_rbf)
        self.node_in = nn.Linear(sc * (num_types + num_charges) + time_dim, hidden)
        self.edge_in = nn.Linear(sc * num_bonds + sc * num_rbf, edge_hidden)
        self.layers = nn.ModuleList(BondEGNNLayer(hidden, edge_hidden, num_rbf, coords_range, norm_factor)
                                    for _ in range(layers))
        act = nn.SiLU()
        self.type_out = nn.Sequential(nn.Linear(hidden, hidden), act, nn.Linear(hidden, num_types))
        self.charge_out = nn.Sequential(nn.Linear(hidden, hidden), act, nn.Linear(hidden, num_charges))
        self.bond_out = nn.Sequential(nn.Linear(edge_hidden + hidden, edge_hidden), act,
                                      nn.Linear(edge_hidden, num_bonds))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise every layer (PyTorch defaults; coordinate heads start near zero)."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.LayerNorm)):
                module.reset_parameters()
        for layer in self.layers:
            nn.init.xavier_uniform_(layer.coord[-1].weight, gain=0.001)

    def forward(self, pos, atom_type, charge, bond_type, t, batch, edge_index=None, num_graphs: int | None = None,
                self_cond: dict | None = None) -> dict:
        edge_index = self.graph(batch) if edge_index is None else edge_index
        src, dst = edge_index
        dtype = pos.dtype
        node = [nn.functional.one_hot(atom_type, self.num_types).to(dtype),
                nn.functional.one_hot(charge, self.num_charges).to(dtype)]
        edge = [nn.functional.one_hot(bond_type, self.num_bonds).to(dtype),
                self.rbf((pos[dst] - pos[src]).norm(dim=-1, keepdim=True))]
        if self.self_condition:
            if self_cond is None:  # the first pass sees zeros where the previous predictions go
                node += [pos.new_zeros(len(pos), self.num_types + self.num_charges)]
                edge += [pos.new_zeros(len(src), self.num_bonds + self.rbf.centres.numel())]
            else:
                sc_pos = self_cond["pos"]
                node += [self_cond["atom_type"], self_cond["charge"]]
                edge += [self_cond["bond_type"], self.rbf((sc_pos[dst] - sc_pos[src]).norm(dim=-1, keepdim=True))]
        node.append(time_embedding(t.to(dtype), self.time_dim)[batch])
        h = self.node_in(torch.cat(node, dim=-1))
        e = self.edge_in(torch.cat(edge, dim=-1))
        x = pos
        for layer in self.layers:
            h, x, e = layer(h, x, e, edge_index)
        rev = reverse_edges(edge_index, len(pos))
        pair = torch.cat([(e + e[rev]) / 2, h[src] + h[dst]], dim=-1)  # symmetric in (i, j)
        return {"pos": remove_mean(x, batch, num_graphs), "atom_type": self.type_out(h),
                "charge": self.charge_out(h), "bond_type": self.bond_out(pair)}
