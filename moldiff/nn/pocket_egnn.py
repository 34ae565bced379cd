"""EGNN denoiser for ligands inside a fixed protein pocket (DiffSBDD / TargetDiff setting).

Ligand atoms are diffused; pocket atoms are fixed context in the same graph. Edges:
ligand–ligand fully connected, ligand <-> pocket within ``cutoff`` Å (on the current,
noisy ligand coordinates), optionally pocket–pocket within ``pocket_cutoff``. Every
layer is an :class:`~moldiff.nn.egnn.EGNNLayer` over the joint graph whose coordinate
update is applied to ligand atoms only (pocket coordinates are reset to the input).

The frame is the pocket's: no centre of mass is removed from the ligand output, so the
model is E(3)-equivariant for the complex as a whole (rotate and translate protein and
ligand together and the output rotates with them; the position output is a displacement
and does not change under translation).
"""
from __future__ import annotations

import torch
from torch import nn

from moldiff.nn.egnn import EGNNLayer
from moldiff.nn.graph import full_edges


def complex_edges(lig_pos, lig_batch, pocket_pos, pocket_batch, cutoff: float, pocket_cutoff: float | None = None):
    """Edges of the joint graph (ligand atoms first, then pocket atoms): (2, E) ``[source, target]``.

    Ligand–ligand: all pairs within a complex. Ligand <-> pocket: pairs within ``cutoff``
    (both directions). Pocket–pocket: pairs within ``pocket_cutoff`` if given. Distances
    are computed one complex at a time (memory O(max n_ligand * n_pocket)).
    """
    n_lig = lig_pos.shape[0]
    edges = [full_edges(lig_batch)]
    lig_ptr = torch.cat([lig_batch.new_zeros(1), torch.bincount(lig_batch).cumsum(0)])
    num_graphs = len(lig_ptr) - 1
    pocket_counts = torch.bincount(pocket_batch, minlength=num_graphs)
    pocket_ptr = torch.cat([pocket_batch.new_zeros(1), pocket_counts.cumsum(0)])
    for g in range(num_graphs):
        l0, l1 = lig_ptr[g].item(), lig_ptr[g + 1].item()
        p0, p1 = pocket_ptr[g].item(), pocket_ptr[g + 1].item()
        if l1 == l0 or p1 == p0:
            continue
        li, pj = (torch.cdist(lig_pos[l0:l1], pocket_pos[p0:p1]) <= cutoff).nonzero().T
        li, pj = li + l0, pj + p0 + n_lig
        edges += [torch.stack([pj, li]), torch.stack([li, pj])]
        if pocket_cutoff is not None:
            d = torch.cdist(pocket_pos[p0:p1], pocket_pos[p0:p1]).fill_diagonal_(float("inf"))
            pi, pk = (d <= pocket_cutoff).nonzero().T
            edges.append(torch.stack([pi + p0 + n_lig, pk + p0 + n_lig]))
    return torch.cat(edges, dim=1)


class PocketEGNNDenoiser(nn.Module):
    """Ligand denoiser conditioned on a pocket.

    Args:
        num_features: ligand atom feature channels (one-hot types + charge).
        pocket_features: pocket atom feature channels (e.g. one-hot element + residue type + backbone).
        hidden, layers, coords_range, attention: as :class:`~moldiff.nn.egnn.EGNNDenoiser`.
        norm_factor: aggregation divisor of ligand–ligand messages (EDM: 1). The network must
            be able to output displacements of the size of the noise (~1 Å per atom at
            t = 1): a divisor of 100 on every edge caps them below that and the sampler
            diverges (measured: eps error 0.2 at t = 1 after pre-training).
        pocket_norm_factor: divisor of messages from/among pocket atoms. A ligand atom has
            hundreds of pocket neighbours, so their summed steps need a large divisor
            (DiffSBDD uses 100 for all edges); with 1 an untrained model throws atoms far away.
        cutoff: ligand <-> pocket edge cutoff, Å. pocket_cutoff: pocket–pocket edges (None: none).
        contact_radius: Å; if set, a ligand–pocket edge's weight is
            ``max(1 / pocket_norm_factor, c(d))`` with the cosine envelope
            ``c(d) = (1 + cos(pi d / contact_radius)) / 2`` of the pair's input distance
            (0 beyond ``contact_radius``). With the flat ``1 / pocket_norm_factor`` alone a
            protein atom 1 Å from a ligand atom can move it by at most
            ``coords_range / layers / pocket_norm_factor`` per layer (0.03 Å here): the
            network cannot push a ligand out of the protein, and the pocket model trained
            that way clashed in every design. The envelope gives the few atoms in contact
            full weight and leaves the far ones averaged. None: the flat weight (checkpoints
            trained before this option).

    ``prune_pocket``: leave pocket atoms without an edge out of the computation (exact; off
    only to check that).

    ``forward(pos (N,3), h (N,F), t (B,), batch (N,), num_graphs, pocket_pos (M,3),
    pocket_h (M,P), pocket_batch (M,))`` returns ``(out_pos (N,3), out_h (N,F))`` for the ligand.
    """

    prune_pocket = True

    def __init__(self, num_features: int, pocket_features: int, hidden: int = 128, layers: int = 6,
                 coords_range: float = 15.0, norm_factor: float = 1.0, attention: bool = True,
                 cutoff: float = 8.0, pocket_cutoff: float | None = None, pocket_norm_factor: float = 100.0,
                 contact_radius: float | None = None) -> None:
        super().__init__()
        self.num_features, self.pocket_features = num_features, pocket_features
        self.cutoff, self.pocket_cutoff = cutoff, pocket_cutoff
        self.pocket_norm_factor, self.contact_radius = pocket_norm_factor, contact_radius
        self.embed = nn.Linear(num_features + 1, hidden)
        self.embed_pocket = nn.Linear(pocket_features + 1, hidden)
        # edge attribute: input squared distance + one-hot of the edge kind (lig-lig, lig-pocket, pocket-pocket)
        self.layers = nn.ModuleList(
            EGNNLayer(hidden, 4, coords_range / layers, norm_factor, attention) for _ in range(layers)
        )
        self.out = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, num_features))

    def forward(self, pos, h, t, batch, num_graphs, pocket_pos, pocket_h, pocket_batch):
        n = pos.shape[0]
        edge_index = complex_edges(pos, batch, pocket_pos, pocket_batch, self.cutoff, self.pocket_cutoff)
        if self.prune_pocket and self.pocket_cutoff is None and len(pocket_pos):
            # pocket atoms without an edge to the ligand never influence it: leave them out
            # (exact; most of a 10 Å pocket is beyond the cutoff of a compact ligand)
            used = torch.zeros(len(pocket_pos), dtype=torch.bool, device=pos.device)
            used[edge_index[edge_index >= n] - n] = True
            remap = torch.full((len(pocket_pos),), -1, dtype=torch.long, device=pos.device)
            remap[used] = torch.arange(int(used.sum()), device=pos.device)
            edge_index = torch.where(edge_index >= n, remap[(edge_index - n).clamp_min(0)] + n, edge_index)
            pocket_pos, pocket_h, pocket_batch = pocket_pos[used], pocket_h[used], pocket_batch[used]
        x_in = torch.cat([pos, pocket_pos.to(pos.dtype)], dim=0)
        src, dst = edge_index
        d2 = ((x_in[dst] - x_in[src]) ** 2).sum(-1, keepdim=True)
        kind = (src >= n).long() + (dst >= n).long()  # 0 lig-lig, 1 lig-pocket, 2 pocket-pocket
        edge_attr = torch.cat([d2, nn.functional.one_hot(kind, 3).to(pos.dtype)], dim=-1)
        edge_weight = torch.where(kind == 0, 1.0, 1.0 / self.pocket_norm_factor).to(pos.dtype).unsqueeze(-1)
        if self.contact_radius is not None:
            d = d2.clamp_min(0).sqrt()
            envelope = torch.where(d < self.contact_radius, 0.5 * (1 + torch.cos(torch.pi * d / self.contact_radius)),
                                   torch.zeros_like(d))
            edge_weight = torch.where((kind == 1).unsqueeze(-1), torch.maximum(edge_weight, envelope), edge_weight)
        feat = torch.cat([
            self.embed(torch.cat([h, t[batch].unsqueeze(-1).to(h.dtype)], dim=-1)),
            self.embed_pocket(torch.cat([pocket_h.to(h.dtype), t[pocket_batch].unsqueeze(-1).to(h.dtype)], dim=-1)),
        ])
        x = x_in
        for layer in self.layers:
            feat, x = layer(feat, x, edge_index, edge_attr, edge_weight)
            x = torch.cat([x[:n], x_in[n:]])  # pocket atoms stay where they are
        return x[:n] - pos, self.out(feat[:n])
