"""Atom types and formal charges as scaled continuous features (EDM style).

``h = [type_scale * one_hot(atom_type), charge_scale * charge]``. EDM scales the
one-hot by 1/4 so that positions dominate early in the reverse process; decoding
takes the arg-max type and the rounded charge. A categorical (discrete) type
diffusion would replace this codec and its noise, not the samplers.
"""
from __future__ import annotations

import torch


class FeatureCodec:
    """Encode/decode atom features.

    Args:
        num_types: size of the element vocabulary.
        type_scale: factor on the one-hot channels (EDM: 0.25).
        charge_scale: factor on the formal-charge channel (``0`` drops it).
        max_abs_charge: decoded charges are clipped to ``[-max_abs_charge, max_abs_charge]``
            (QM9 has only -1, 0, +1).
    """

    def __init__(self, num_types: int, type_scale: float = 0.25, charge_scale: float = 0.5,
                 max_abs_charge: int = 1) -> None:
        self.num_types = num_types
        self.max_abs_charge = max_abs_charge
        self.type_scale = type_scale
        self.charge_scale = charge_scale

    @property
    def num_features(self) -> int:
        return self.num_types + (1 if self.charge_scale else 0)

    def encode(self, atom_type: torch.Tensor, charge: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
        """(N,) types and (N,) charges -> (N, F) features."""
        h = torch.nn.functional.one_hot(atom_type, self.num_types).to(dtype) * self.type_scale
        if self.charge_scale:
            h = torch.cat([h, charge.to(dtype).unsqueeze(-1) * self.charge_scale], dim=-1)
        return h

    def decode(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, F) features -> (atom_type (N,), charge (N,))."""
        atom_type = h[:, : self.num_types].argmax(dim=-1)
        if self.charge_scale:
            charge = torch.round(h[:, self.num_types] / self.charge_scale).long()
            charge = charge.clamp(-self.max_abs_charge, self.max_abs_charge)
        else:
            charge = torch.zeros_like(atom_type)
        return atom_type, charge

    def to_dict(self) -> dict:
        return {"num_types": self.num_types, "type_scale": self.type_scale, "charge_scale": self.charge_scale}
