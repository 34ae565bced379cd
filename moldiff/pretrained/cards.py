"""Model cards as Markdown, generated from the cards' JSON (the one source of truth).

    python -m moldiff.pretrained.cards docs/cards      # writes docs/cards/<name>.md for every shipped model

``tests/test_readme.py`` checks that the files in ``docs/cards`` are what this writes.
"""
from __future__ import annotations

import sys
from pathlib import Path

#: the card keys shown first, in this order; the rest follow as they come
LEAD = ("data", "split", "selection", "architecture", "training", "sampling", "metrics", "limitations")


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _dict_lines(d: dict, depth: int = 0) -> list[str]:
    pad = "  " * depth
    lines = []
    for k, v in d.items():
        if isinstance(v, dict):
            lines += [f"{pad}- **{k}**:", *_dict_lines(v, depth + 1)]
        elif isinstance(v, list) and v and all(isinstance(r, dict) for r in v):
            lines.append(f"{pad}- **{k}**: " + "; ".join(", ".join(f"{kk} {_cell(vv)}" for kk, vv in r.items())
                                                       for r in v))
        elif isinstance(v, list):
            lines.append(f"{pad}- **{k}**: " + ", ".join(map(_cell, v)))
        else:
            lines.append(f"{pad}- **{k}**: {_cell(v)}")
    return lines


def _block(value) -> list[str]:
    """A card entry: a dict as a nested list, a list of rows as a table, anything else as text."""
    if isinstance(value, dict):
        return _dict_lines(value)
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        cols = list(dict.fromkeys(k for r in value for k in r))
        return ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols),
                *("| " + " | ".join(_cell(r.get(c, "")) for c in cols) + " |" for r in value)]
    if isinstance(value, list):
        return [", ".join(map(_cell, value))]
    return [_cell(value)]


def card_markdown(name: str) -> str:
    """The card of shipped model ``name`` as a Markdown page."""
    from moldiff.pretrained import MODELS, model_card

    card = model_card(name)
    lines = [f"# `{name}`: {card.get('title', name)}", "",
             f"File `moldiff/pretrained/{MODELS[name]}.pt`; `moldiff model info {name}` prints this card, "
             f"`moldiff.load(\"{name}\")` loads the model. Generated from `{MODELS[name]}.json` by "
             "`python -m moldiff.pretrained.cards docs/cards`; do not edit by hand.", ""]
    keys = [k for k in LEAD if k in card] + [k for k in card if k not in LEAD and k != "title"]
    for key in keys:
        lines += [f"## {key.replace('_', ' ')}", "", *_block(card[key]), ""]
    return "\n".join(lines).rstrip() + "\n"


def write_cards(folder: str | Path) -> list[Path]:
    """Write ``<name>.md`` for every shipped model into ``folder``; returns the paths."""
    from moldiff.pretrained import names

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names():
        path = folder / f"{name}.md"
        path.write_text(card_markdown(name), encoding="utf-8")
        out.append(path)
    return out


if __name__ == "__main__":
    for p in write_cards(sys.argv[1] if len(sys.argv) > 1 else "docs/cards"):
        print(p)
