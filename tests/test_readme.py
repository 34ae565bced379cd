"""The README as a newcomer uses it: short, every link resolves, its commands run as pasted.

Blocks fenced as ``bash`` or ``python`` are run (in a fresh folder, in the order they appear);
blocks fenced as ``sh`` are the install and test commands, which the CI script runs itself
(``.ci/run``) and which cannot run inside the test suite.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _blocks(kind: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README.read_text()) if lang == kind]


def test_the_readme_is_short_and_its_links_resolve():
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    for doc in [README, *sorted((REPO / "docs").rglob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if "://" not in target:
                assert (doc.parent / target).exists(), f"{doc.relative_to(REPO)}: broken link {target}"
    # the install line for CPU machines comes before the package install, with PyTorch's CPU index
    assert text.index("download.pytorch.org/whl/cpu") < text.index('pip install -e ".[eval]"')
    assert 'pip install -e ".[dev]" && python -m pytest -q' in _blocks("sh")[-1]  # what .ci/run runs


def test_the_model_cards_in_docs_are_generated_from_their_json():
    from moldiff.pretrained import names
    from moldiff.pretrained.cards import card_markdown

    for name in names():
        path = REPO / "docs" / "cards" / f"{name}.md"
        assert path.read_text() == card_markdown(name), "regenerate: python -m moldiff.pretrained.cards docs/cards"


def test_every_cli_option_has_help_and_shows_its_default():
    from moldiff.cli import build_parser

    def walk(parser, name):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, p in action.choices.items():
                    yield from walk(p, f"{name} {sub}")
            elif action.dest != "help":
                yield name, action, parser

    for name, action, parser in walk(build_parser(), "moldiff"):
        assert action.help, f"{name} {action.option_strings or action.dest}: no help text"
        if action.option_strings and action.default not in (None, False) and action.nargs != 0:
            shown = parser.formatter_class("x")._get_help_string(action)
            assert "default" in shown, f"{name} {action.option_strings}: default not shown"


@pytest.mark.slow
@pytest.mark.timeout(900)  # five commands and two Python blocks, each a fresh process (~4 min on 2 cores)
def test_the_readme_commands_run_as_pasted(tmp_path):
    pytest.importorskip("vina")  # the quick starts score and dock with Vina (the eval extra)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    bin_dir = str(Path(sys.executable).parent)  # the moldiff script of this environment
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    for block in _blocks("bash"):
        proc = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=900)
        assert proc.returncode == 0, f"{block}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    for name in ("samples.sdf", "designs.sdf", "poses.sdf", "designs.html"):
        assert (tmp_path / name).stat().st_size > 0
    for block in _blocks("python"):
        proc = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=900)
        assert proc.returncode == 0, f"{block}\n{proc.stderr[-3000:]}"
        assert proc.stdout.strip(), "the Python quick start printed nothing"
