"""Sampling-time guidance: transforms of the predicted clean structure, composed by the caller.

At every sampling step the clean structure implied by the network's prediction goes through a
list of transforms, in order; the sampler continues from the result (the network sees, and
repairs, it at the next step), and the last step returns it. They enforce what a small model
trained on little data has not learned -- staying in the pocket, not entering the protein, being
one molecule -- in the spirit of the clash and bond drifts of DecompDiff (Guan et al. 2023), as
projections; and they can steer towards a score (Vina's energy, as TAGMol does). Reported
figures always say which were on.

One module each; each transform is ``f(x0 (N, 3), h0 (N, F), t) -> x0`` and is equivariant under
rotations of the pocket frame (tested with :func:`moldiff.testing.assert_x0_transform_equivariant`):

============================  ==================================  ======================
spec (what a caller lists)    transform (bound to a batch)        module
============================  ==================================  ======================
:class:`KeepInPocket`         :class:`PocketClip`                 :mod:`.clip`
:class:`VinaEnergy`           :class:`VinaGuidance`               :mod:`.vina`
:class:`Connect`              :class:`FragmentJoin`               :mod:`.fragments`
:class:`Clash`                :class:`PocketRepulsion`            :mod:`.repulsion`
============================  ==================================  ======================

    >>> guidance = [KeepInPocket(3.0), VinaEnergy(types), Connect(), Clash(2.8)]
    >>> sample_in_pocket(..., guidance=guidance)

A spec binds to the batch's :class:`Frame` inside the sampler (the pocket-centred frame exists
only there); any plain callable in the list is used as it is.
"""
from moldiff.diffusion.guidance.base import (BOND_DISTANCE, BOND_SLACK, JOIN_DISTANCE, MIN_DISTANCE,
                                             SPREAD_DISTANCE, Frame, X0Transform, bind_all)
from moldiff.diffusion.guidance.clip import LIGAND_CENTER_RADIUS, KeepInPocket, PocketClip
from moldiff.diffusion.guidance.fragments import Connect, FragmentJoin, fragments
from moldiff.diffusion.guidance.repulsion import CLASH_DISTANCE, Clash, PocketRepulsion
from moldiff.diffusion.guidance.vina import VINA_MAX_MOVE, VINA_STEP, VinaEnergy, VinaGuidance

__all__ = ["BOND_DISTANCE", "BOND_SLACK", "CLASH_DISTANCE", "JOIN_DISTANCE", "LIGAND_CENTER_RADIUS", "MIN_DISTANCE",
           "SPREAD_DISTANCE", "VINA_MAX_MOVE", "VINA_STEP", "Clash", "Connect", "Frame", "FragmentJoin",
           "KeepInPocket", "PocketClip", "PocketRepulsion", "VinaEnergy", "VinaGuidance", "X0Transform", "bind_all",
           "fragments"]
