"""Graph construction for the networks: re-exported from :mod:`moldiff.geometry` (the one home
of neighbour graphs), so a network's graph builder stays injectable from here."""
from moldiff.geometry import build_edges, full_edges, radius_edges

__all__ = ["build_edges", "full_edges", "radius_edges"]
