"""An E(3)-invariant network that scores docking poses (the pose ranker's network).

A pose is a graph of the ligand's heavy atoms and the pocket atoms near them; edges join
atoms within a cutoff (ligand-ligand, with the bond order where bonded, and ligand-pocket in
both directions; pocket-pocket pairs are left out: the pocket is context). Messages are
SchNet-style continuous filters (Schuett et al. 2017, "SchNet: a continuous-filter
convolutional neural network", arXiv:1706.08566): a filter from Gaussian-expanded distances
and the edge kind multiplies the sender's features, smoothly cut off at ``cutoff``. The ligand
atoms' final features are summed into a pose vector, joined to per-pose features computed
from the whole candidate set (Vina score and its rank, agreement with the other low-energy
poses: see :mod:`moldiff.docking.ranker`), and an MLP gives one logit: that the pose lies
within 2 A of the true one. Distances are the only geometry it reads, so the output is
invariant to rotations, reflections and translations of the complex and to atom order.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch_geometric.utils import scatter


class GaussianDistances(nn.Module):
    """(E,) distances -> (E, n) Gaussians centred evenly on [0, cutoff], width the spacing."""

    def __init__(self, cutoff: float, n: int) -> None:
        super().__init__()
        self.register_buffer("centres", torch.linspace(0.0, cutoff, n))
        self.gamma = 0.5 / float(cutoff / (n - 1)) ** 2

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return torch.exp(-self.gamma * (d[:, None] - self.centres) ** 2)


class Interaction(nn.Module):
    """One continuous-filter interaction block with a residual update.

    Inputs: ``h`` (N, hidden) node features, ``edge_index`` (2, E) sender -> receiver,
    ``edge_attr`` (E, edge_dim) filter input, ``weight`` (E,) smooth cutoff in [0, 1].
    Output: (N, hidden) updated node features."""

    def __init__(self, hidden: int, edge_dim: int) -> None:
        super().__init__()
        self.filter = nn.Sequential(nn.Linear(edge_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.lin_in = nn.Linear(hidden, hidden, bias=False)
        self.update = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.norm = nn.LayerNorm(hidden)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.LayerNorm)):
                m.reset_parameters()

    def forward(self, h, edge_index, edge_attr, weight):
        src, dst = edge_index
        msg = self.lin_in(h)[src] * self.filter(edge_attr) * weight[:, None]
        agg = scatter(msg, dst, dim=0, dim_size=len(h), reduce="sum")
        return h + self.update(self.norm(agg))


class PoseRankerNet(nn.Module):
    """Invariant pose scorer ``(x, edge_index, edge_kind, edge_length, ligand, batch, pose_features) -> logits``.

    Args:
        node_dim: node feature size (ligand and pocket atoms share one vector layout).
        num_edge_kinds: edge kind vocabulary (one-hot into the filter).
        pose_dim: per-pose features joined to the pooled ligand vector.
        hidden: width. layers: interaction blocks (0: the pose features alone, an MLP).
        cutoff: Å, the edges' range (filters reach zero there). rbf: Gaussians per distance.

    Shapes: ``x`` (N, node_dim), ``edge_index`` (2, E), ``edge_kind`` (E,) int, ``edge_length``
    (E,) Å, ``ligand`` (N,) bool, ``batch`` (N,) pose index, ``pose_features`` (B, pose_dim)
    -> (B,) logits.
    """

    def __init__(self, node_dim: int, num_edge_kinds: int, pose_dim: int, *, hidden: int = 64, layers: int = 3,
                 cutoff: float = 6.0, rbf: int = 16) -> None:
        super().__init__()
        self.num_edge_kinds, self.cutoff, self.layers_count = num_edge_kinds, cutoff, layers
        self.rbf = GaussianDistances(cutoff, rbf)
        self.embed = nn.Linear(node_dim, hidden)
        self.blocks = nn.ModuleList(Interaction(hidden, rbf + num_edge_kinds) for _ in range(layers))
        pooled = hidden if layers else 0
        self.head = nn.Sequential(nn.Linear(pooled + pose_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                  nn.SiLU(), nn.Linear(hidden, 1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.embed.reset_parameters()
        for block in self.blocks:
            block.reset_parameters()
        for m in self.head:
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def forward(self, x, edge_index, edge_kind, edge_length, ligand, batch, pose_features):
        num_poses = len(pose_features)
        if self.layers_count:
            attr = torch.cat([self.rbf(edge_length),
                              nn.functional.one_hot(edge_kind, self.num_edge_kinds).to(x.dtype)], -1)
            weight = 0.5 * (torch.cos(edge_length * math.pi / self.cutoff) + 1.0) * (edge_length < self.cutoff)
            h = self.embed(x)
            for block in self.blocks:
                h = block(h, edge_index, attr, weight.to(x.dtype))
            pooled = scatter(h[ligand], batch[ligand], dim=0, dim_size=num_poses, reduce="mean")
            pose_features = torch.cat([pooled, pose_features], -1)
        return self.head(pose_features).squeeze(-1)
