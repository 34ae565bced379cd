"""Equivariant denoisers. A denoiser knows nothing about schedules or samplers.

Interface: ``denoiser(pos (N,3), h (N,F), t (B,), batch (N,), num_graphs) -> (out_pos, out_h)``;
pocket-conditioned denoisers take ``pocket_pos, pocket_h, pocket_batch`` after it.
"""
from moldiff.nn.e3nn_denoiser import E3NNDenoiser
from moldiff.nn.egnn import EGNNDenoiser
from moldiff.nn.pocket_egnn import PocketEGNNDenoiser

DENOISERS = {"egnn": EGNNDenoiser, "e3nn": E3NNDenoiser}

__all__ = ["DENOISERS", "E3NNDenoiser", "EGNNDenoiser", "PocketEGNNDenoiser"]
