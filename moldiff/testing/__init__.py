"""Test helpers shipped with moldiff so other models can reuse them.

* :func:`assert_denoiser_equivariant` -- a molecule denoiser under random O(3) transformations
  (rotations *and* reflections), translations and node permutations;
* :func:`assert_batch_independent` -- a molecule's output does not depend on the rest of the batch;
* :func:`assert_bond_denoiser_equivariant` -- joint atoms/charges/bonds networks (pair outputs
  permute with the atoms and stay symmetric);
* :func:`assert_pocket_denoiser_equivariant` -- pocket-conditioned denoisers (ligand and pocket
  moved together, ligand and pocket atoms permuted), in float64 or float32;
* :func:`assert_x0_transform_equivariant` -- guidance transforms (:mod:`moldiff.diffusion.guidance`)
  under rotations and reflections of the pocket frame;
* :func:`assert_pocket_sampler_equivariant` (:mod:`moldiff.testing.sampling`) -- a whole guided
  sampling run: rotate the protein and the noise, get the rotated design.
"""
from moldiff.testing.equivariance import (
    TOLERANCES,
    assert_batch_independent,
    assert_bond_denoiser_equivariant,
    assert_denoiser_equivariant,
    assert_pocket_denoiser_equivariant,
    assert_x0_transform_equivariant,
    random_batch,
    random_orthogonal,
    random_pocket,
)

__all__ = [
    "TOLERANCES",
    "assert_batch_independent",
    "assert_bond_denoiser_equivariant",
    "assert_denoiser_equivariant",
    "assert_pocket_denoiser_equivariant",
    "assert_pocket_sampler_equivariant",
    "assert_x0_transform_equivariant",
    "random_batch",
    "random_orthogonal",
    "random_pocket",
]


def __getattr__(name: str):
    if name == "assert_pocket_sampler_equivariant":  # imports the samplers: on first use
        from moldiff.testing.sampling import assert_pocket_sampler_equivariant

        return assert_pocket_sampler_equivariant
    raise AttributeError(f"module 'moldiff.testing' has no attribute {name!r}")
