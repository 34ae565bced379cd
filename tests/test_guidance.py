"""Guidance transforms (moldiff.diffusion.guidance) and the pocket harnesses of moldiff.testing:
each transform commutes with rotations and reflections of the pocket frame; the pocket network
is E(3)- and permutation-equivariant in float64 and float32; a whole guided sampling run in a
rotated protein is the rotated run."""
import pytest
import torch

from moldiff.diffusion.guidance import (Clash, Connect, KeepInPocket, PocketClip, PocketRepulsion, VinaEnergy,
                                        bind_all)
from moldiff.diffusion.pocket import POCKET_FEATURES
from moldiff.diffusion.schedule import PolynomialSchedule
from moldiff.nn.pocket_egnn import PocketEGNNDenoiser
from moldiff.testing import (assert_pocket_denoiser_equivariant, assert_pocket_sampler_equivariant,
                             assert_x0_transform_equivariant, random_batch, random_pocket)

ELEMENTS = ("C", "N", "O", "S", "F", "Cl")


def _net(num_features=len(ELEMENTS) + 1, cutoff=6.0):
    torch.manual_seed(0)
    return PocketEGNNDenoiser(num_features, POCKET_FEATURES, hidden=16, layers=2, cutoff=cutoff,
                              contact_radius=5.0).double()


@pytest.mark.parametrize("spec", [KeepInPocket(3.0), KeepInPocket(None), Connect(), Clash(2.8),
                                  VinaEnergy(("C_H", "N_D", "O_A", "C_P") * 5)],
                         ids=["keep-in-pocket", "keep-in-pocket-no-centre", "connect", "clash", "vina"])
def test_every_guidance_transform_is_equivariant(spec):
    assert_x0_transform_equivariant(spec.bind, pocket_size=20)


def test_the_transforms_move_what_they_promise():
    """Not the identity: each one changes a structure that breaks its rule."""
    x0, h0, t, batch = random_batch((6, 4), len(ELEMENTS), generator=torch.Generator().manual_seed(3))
    pocket, _, pocket_batch = random_pocket(2, 20, 1, generator=torch.Generator().manual_seed(4))
    far = x0 * 6.0
    clip = PocketClip(torch.tensor([4.0, 4.0], dtype=torch.float64), 1.0, batch, 2)(far)
    assert clip.norm(dim=-1).max() <= 4.0 + 1e-9 and not torch.allclose(clip, far)
    inside = torch.zeros(3, 3, dtype=torch.float64) + torch.tensor([0.0, 0.0, 4.5], dtype=torch.float64)
    pushed = PocketRepulsion(pocket[:20], pocket_batch[:20], torch.zeros(3, dtype=torch.long), 2.8)(inside)
    assert torch.cdist(pushed, pocket[:20]).min() > torch.cdist(inside, pocket[:20]).min()


def test_bind_all_binds_specs_and_keeps_plain_callables():
    from moldiff.diffusion.guidance import Frame

    pocket, _, pocket_batch = random_pocket(1, 10, 1)
    frame = Frame(torch.zeros(4, dtype=torch.long), 1, pocket, pocket_batch, ELEMENTS)

    def identity(x0, h0=None, t=None):
        return x0

    bound = bind_all([KeepInPocket(3.0), identity], frame)
    assert isinstance(bound[0], PocketClip) and bound[1] is identity


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_pocket_denoiser_harness_float64_and_float32_with_permutations(dtype):
    assert_pocket_denoiser_equivariant(_net(), dtype, sizes=(5, 3), pocket_size=12)


def test_pocket_denoiser_harness_catches_a_broken_network():
    class Broken(torch.nn.Module):  # uses absolute positions: not translation-invariant
        num_features, pocket_features = 4, POCKET_FEATURES

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Linear(3, 3)

        def forward(self, pos, h, t, batch, num_graphs, pocket_pos, pocket_h, pocket_batch):
            return self.w(pos), h

    with pytest.raises(AssertionError, match="not equivariant"):
        assert_pocket_denoiser_equivariant(Broken().double(), sizes=(4,), pocket_size=6)


def test_a_guided_sampling_run_in_a_rotated_protein_is_the_rotated_run():
    guidance = [KeepInPocket(3.0), VinaEnergy(("C_H", "N_D", "O_A", "C_P") * 5), Connect(), Clash(2.8)]
    assert_pocket_sampler_equivariant(_net(), PolynomialSchedule(), guidance=guidance, parameterization="eps",
                                      steps=5, sizes=(5, 4), pocket_size=20, elements=ELEMENTS)


def test_the_sampler_harness_catches_a_transform_that_is_not_equivariant():
    def leans_on_x(x0, h0=None, t=None):  # a fixed direction: breaks rotation symmetry
        return x0 + torch.tensor([0.3, 0.0, 0.0], dtype=x0.dtype)

    with pytest.raises(AssertionError, match="not equivariant"):
        assert_pocket_sampler_equivariant(_net(), PolynomialSchedule(), guidance=[leans_on_x], steps=3,
                                          sizes=(4,), pocket_size=12, elements=ELEMENTS)
