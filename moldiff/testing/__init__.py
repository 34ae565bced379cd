"""Test helpers shipped with moldiff so other models can reuse them.

:func:`assert_denoiser_equivariant` checks a denoiser under random O(3) transformations
(rotations *and* reflections), translations and node permutations;
:func:`assert_batch_independent` checks that a molecule's output does not depend on
the rest of the batch; :func:`assert_bond_denoiser_equivariant` checks joint atoms/charges/
bonds networks (pair outputs permute with the atoms and stay symmetric).
"""
from moldiff.testing.equivariance import (
    TOLERANCES,
    assert_batch_independent,
    assert_bond_denoiser_equivariant,
    assert_denoiser_equivariant,
    random_batch,
    random_orthogonal,
)

__all__ = [
    "TOLERANCES",
    "assert_batch_independent",
    "assert_bond_denoiser_equivariant",
    "assert_denoiser_equivariant",
    "random_batch",
    "random_orthogonal",
]
