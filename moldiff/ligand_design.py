"""Ligand design in a protein pocket: the policy around the pocket model.

:func:`generate` draws heavy-atom designs with the guidance the options ask for, draws again
those that overlap the protein (:data:`REDRAW_MAX_ENERGY`), shrinking a size drawn from the
prior (:data:`REDRAW_SHRINK`); :func:`design` assembles each into a molecule (bonds, charges,
hydrogens from the geometry, :func:`~moldiff.chem.assemble.assemble_ligand`), relaxes it in
the pocket and records how it was made. The network and its sampler are
:mod:`moldiff.diffusion.pocket`; guidance transforms are :mod:`moldiff.diffusion.guidance`.

    >>> model = moldiff.load("pocket_design")
    >>> mols = design(model, "P.pdb", ligand="ref.sdf", n=10, seed=0)   # == model.design(...)
"""
from __future__ import annotations

import logging
import math
from typing import NamedTuple

import torch

from moldiff.chem.validity import mark_validity, valid_only
from moldiff.errors import InputError
from moldiff.options import DesignOptions
from moldiff.progress import Progress

log = logging.getLogger(__name__)

#: kcal/mol: designs with a Vina-form intermolecular energy above this are drawn again
#: (0: steric repulsion outweighs every attractive contact -- the design overlaps the protein)
REDRAW_MAX_ENERGY = 0.0
#: a redrawn design whose size came from the pocket-size prior gets this fraction of the
#: atoms of its previous draw (the prior is a rough estimate: pocket atom counts predict
#: ligand sizes with r = 0.64 on posebusters_dev, and no training pocket is as small as some)
REDRAW_SHRINK = 0.8
#: Å: the designed ligand's centre is kept this close to the pocket's centre. Within 7 Å (what
#: docking allows a known ligand) a generated ligand's centre could drift into the pocket's most
#: buried part, where no ligand fits (on 4 posebusters_dev pockets x 8 designs, 25 % of designs
#: had a positive Vina score at 7 Å, 3 % at 3 Å); 3 Å is about the training complexes' median offset
DESIGN_CENTER_RADIUS = 3.0


class Generated(NamedTuple):
    """Output of :func:`generate`: heavy-atom designs (``Mol3D`` or ``None``), the pocket
    (:class:`~moldiff.data.protein.Protein`) and per design ``(fit energy, number of draws)``."""

    designs: list
    site: object
    fits: list


def binding_site(model, protein, *, ligand=None, center=None, box=None, radius: float | None = None):
    """``(pocket Protein, pocket graph, reference heavy-atom positions or None)`` of ``protein``
    around exactly one of ``ligand`` / ``center`` / ``box``, ``radius`` Å (default: the model's)."""
    from moldiff.data.protein import binding_site as select, pocket_graph

    _, site, ligand_pos = select(protein, reference=ligand, center=center, box=box,
                                 radius=model.radius if radius is None else radius)
    return site, pocket_graph(site), ligand_pos


def sample_ligand_sizes(size_pairs: torch.Tensor, num_pocket_atoms: int, n: int, num_atoms_hist=None, *,
                        neighbours: int = 50, generator: torch.Generator | None = None) -> torch.Tensor:
    """Ligand heavy-atom counts for a pocket of ``num_pocket_atoms`` atoms.

    Drawn from the ``neighbours`` training complexes whose pocket size is closest (a
    nearest-neighbour estimate of p(ligand size | pocket size)); without training pairs
    (a model never trained on pockets) from ``num_atoms_hist``.
    """
    from moldiff.data.stats import sample_from_histogram

    if size_pairs is None or size_pairs.shape[1] == 0:
        if num_atoms_hist is None:
            raise ValueError("no pocket-size pairs and no atom-count histogram to draw ligand sizes from")
        return sample_from_histogram(num_atoms_hist, n, generator)
    pocket, ligand = size_pairs[0].double(), size_pairs[1]
    nearest = torch.argsort((pocket - num_pocket_atoms).abs(), stable=True)[: min(neighbours, len(pocket))]
    pick = torch.randint(len(nearest), (n,), generator=generator)
    return ligand[nearest[pick]].long()


def fit_energy(m, site, pocket_types) -> float:
    """Vina-form intermolecular energy of a generated structure with its pocket (inf: none);
    ``pocket_types``: :func:`~moldiff.vina.atom_types.type_arrays` of the pocket's types."""
    from moldiff.vina.energy import ligand_pocket_energy

    return float("inf") if m is None else ligand_pocket_energy(m.pos, m.symbols, site.pos, pocket_types)


def design_options(model, options: DesignOptions | None = None, **values) -> DesignOptions:
    """:class:`DesignOptions` from ``options`` and keywords, validated, the model's defaults
    filled in (``centre_radius`` is accepted for ``center_radius``)."""
    if "centre_radius" in values:  # the British spelling: an alias
        spelled = values.pop("centre_radius")
        values.setdefault("center_radius", spelled)
    opts = model.options(DesignOptions, options, **values)
    opts.center_radius = DESIGN_CENTER_RADIUS if opts.center_radius is None else opts.center_radius
    return opts


def design_guidance(opts: DesignOptions, pocket_types) -> list:
    """The guidance a design run composes from its options (:mod:`moldiff.diffusion.guidance`),
    in the order applied at every step: keep the ligand in the pocket's core (``center_radius``),
    move it down Vina's energy with the pocket (``vina_guidance``, ``pocket_types``: the pocket's
    X-Score types), join stray fragments (``join_fragments``) and push atoms out of the protein
    (``clash_distance``; with joining, the pair twice: the push can split what was joined)."""
    from moldiff.diffusion.guidance import CLASH_DISTANCE, Clash, Connect, KeepInPocket, VinaEnergy

    distance = CLASH_DISTANCE if opts.clash_distance is None else opts.clash_distance
    guidance = [KeepInPocket(opts.center_radius)]
    if opts.vina_guidance:
        guidance.append(VinaEnergy(tuple(pocket_types)))
    structure = ([Connect()] if opts.join_fragments else []) + ([Clash(distance)] if distance else [])
    return guidance + structure * (2 if len(structure) == 2 else 1)


def generate(model, protein, *, ligand=None, center=None, box=None, options: DesignOptions | None = None,
             progress: bool = False, **values) -> Generated:
    """Heavy-atom designs of ``model`` (a :class:`~moldiff.models.PocketModel`) in the site of
    ``protein`` (exactly one of ``ligand`` / ``center`` / ``box``).

    Options (:class:`~moldiff.options.DesignOptions` or its fields as keywords):

    * ``n``; ``num_atoms``: heavy atoms per ligand; ``None`` draws them given the pocket size
      (from the training complexes, :func:`sample_ligand_sizes`); ``"reference"`` uses the
      reference ``ligand``'s heavy-atom count (the like-for-like comparison of scores that
      grow with size, such as Vina's).
    * ``clash_distance``: Å, clash guidance, the predicted ligand's atoms pushed at least this
      far from the protein's at every step (:class:`~moldiff.diffusion.guidance.PocketRepulsion`;
      default :data:`~moldiff.diffusion.guidance.CLASH_DISTANCE`, 0: off).
    * ``join_fragments``: stray fragments moved onto the main one at every step
      (:class:`~moldiff.diffusion.guidance.FragmentJoin`).
    * ``vina_guidance``: the prediction moves down Vina's energy with the pocket at every step
      (:class:`~moldiff.diffusion.guidance.VinaGuidance`).
    * ``redraw``: a design whose Vina-form intermolecular energy with the pocket is above
      :data:`REDRAW_MAX_ENERGY` is drawn again up to ``redraw`` times, keeping the draw of
      lowest energy; a size drawn from the prior shrinks by :data:`REDRAW_SHRINK` each time.
    * ``center_radius``: Å, the predicted ligand's centre kept this close to the pocket's
      (default :data:`DESIGN_CENTER_RADIUS`).
    * ``steps``, ``sampler``, ``time_power``, ``noise_scale``, ``seed``, ``batch_size``: as for
      sampling (default: the model's).
    """
    from moldiff.diffusion.pocket import pocket_batch_from, sample_in_pocket
    from moldiff.vina.atom_types import protein_xs_types, type_arrays

    opts = design_options(model, options, **values)
    if opts.num_atoms == "reference" and ligand is None:
        raise InputError("num_atoms='reference' needs a reference ligand (ligand=...)")
    site, graph, ligand_pos = binding_site(model, protein, ligand=ligand, center=center, box=box, radius=opts.radius)
    xs = protein_xs_types(site)  # for the guidance and every design's fit energy
    pocket_types = type_arrays(xs)  # once, not per design
    num_atoms = opts.num_atoms
    if num_atoms == "reference":  # heavy atoms of the reference (a file is read without hydrogens)
        num_atoms = ligand.GetNumHeavyAtoms() if hasattr(ligand, "GetNumHeavyAtoms") else len(ligand_pos)
    n, steps = opts.n, opts.steps
    sizes = (torch.full((n,), num_atoms, dtype=torch.long) if num_atoms is not None else
             sample_ligand_sizes(model.size_pairs, len(graph.pos), n, model.num_atoms_hist,
                                 generator=torch.Generator().manual_seed(opts.seed)))
    gen = torch.Generator(device=model.device).manual_seed(opts.seed)
    guidance = design_guidance(opts, xs)

    def draw(sizes, desc):
        made = []
        with Progress(len(sizes), desc, "design", enabled=progress) as bar:
            for chunk in sizes.split(opts.batch_size):
                made.extend(sample_in_pocket(model.denoiser, model.schedule, model.codec, model.elements,
                                             pocket_batch_from(graph, len(chunk)), chunk, steps=steps,
                                             sampler=opts.sampler, parameterization=model.parameterization,
                                             generator=gen, guidance=guidance, time_power=opts.time_power,
                                             noise_scale=opts.noise_scale, callback=bar.steps(len(chunk), steps)))
                bar.finish_batch()
        return made

    out = draw(sizes, "designing")
    energies = [fit_energy(m, site, pocket_types) for m in out]
    draws = [1] * n
    for _ in range(opts.redraw):  # designs that overlap the protein are drawn again; the lower energy is kept
        bad = [i for i, e in enumerate(energies) if not e <= REDRAW_MAX_ENERGY]
        if not bad:
            break
        if num_atoms is None:  # a size from the prior may be too large for the site: smaller
            sizes[bad] = torch.clamp((sizes[bad] * REDRAW_SHRINK).round().long(), min=2)
        for i, m in zip(bad, draw(sizes[bad], "redrawing")):
            draws[i] += 1
            e = fit_energy(m, site, pocket_types)
            if out[i] is None or e < energies[i]:
                out[i], energies[i] = m, e
    return Generated(out, site, list(zip(energies, draws)))


def design(model, protein, *, ligand=None, center=None, box=None, options: DesignOptions | None = None,
           progress: bool = False, return_invalid: bool = False, **values) -> list:
    """Designed ligands as RDKit molecules with hydrogens and 3D coordinates in the protein's
    frame; ``None`` where no consistent molecule could be assembled. Options as :func:`generate`
    plus ``relax``: a restrained force-field minimisation of each assembled molecule
    (:func:`~moldiff.chem.assemble.relax_ligand`: heavy atoms restrained beyond 0.3 Å of the
    design, contacts with the pocket not shortened).

    SD properties: ``moldiff_heavy_atoms``, ``moldiff_draws`` (1 + redraws),
    ``moldiff_fit_energy`` (kcal/mol, the Vina-form intermolecular energy of the generated heavy
    atoms with the pocket; positive: it overlaps the protein), and ``moldiff_valid`` /
    ``moldiff_radical_electrons`` (:func:`~moldiff.chem.validity.mark_validity`; a molecule
    RDKit does not accept is ``None`` unless ``return_invalid``).
    """
    from moldiff.chem.assemble import assemble_ligand, relax_ligand
    from moldiff.timebound import DEFAULT_SECONDS, TIMED_OUT, map_bounded

    opts = design_options(model, options, **values)
    designs, site, fits = generate(model, protein, ligand=ligand, center=center, box=box, options=opts,
                                   progress=progress)

    def build(m):  # in a worker process, killed after DEFAULT_SECONDS (RDKit cannot be interrupted)
        mol = None if m is None else assemble_ligand(m)
        return relax_ligand(mol, site.pos) if mol is not None and opts.relax else mol

    with Progress(len(designs), "assembling", "design", enabled=progress) as bar:
        built = map_bounded(build, designs, seconds=DEFAULT_SECONDS, progress=bar.update)
    if any(b is TIMED_OUT for b in built):
        log.warning("%d design(s) took over %g s to assemble and relax; returned as None",
                    sum(b is TIMED_OUT for b in built), DEFAULT_SECONDS)
    out = []
    for k, (m, mol, (energy, draws)) in enumerate(zip(designs, built, fits)):
        mol = None if mol is TIMED_OUT else mol
        if mol is not None:
            mol.SetProp("_Name", f"moldiff_design_{k}")
            mol.SetIntProp("moldiff_heavy_atoms", m.num_atoms)
            mol.SetIntProp("moldiff_draws", draws)
            if math.isfinite(energy):
                mol.SetDoubleProp("moldiff_fit_energy", round(energy, 3))
            mol = mark_validity(mol)
        out.append(mol)
    return valid_only(out, return_invalid)
