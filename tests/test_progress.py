"""Progress bars count whole units and move within a batch (moldiff.progress)."""
from __future__ import annotations

from moldiff.progress import Progress, progress_iter


def test_a_bar_moves_within_a_batch_and_counts_whole_units(capsys):
    seen = []
    with Progress(5, "sampling", "mol", enabled=True) as bar:
        step = bar.steps(4, 8, lambda *a: seen.append(a))
        for k in range(8):
            step(k)
            if k == 2:  # 3 of 8 steps of a 4-molecule batch: 1.5 molecules' worth, 1 whole one
                assert abs(bar._done - 1.5) < 1e-9 and bar._bar.format_dict["done"] == 1
        bar.finish_batch()
        assert bar._done == 4 and len(seen) == 8
        bar.steps(1, 3)  # a sampler that stopped early still lands on the batch's end
        bar.finish_batch()
        bar.update(10)  # never past the total
        assert bar._done == 5
    err = capsys.readouterr().err
    assert "5/5 mol" in err and "mol/s" in err


def test_a_disabled_bar_costs_the_sampler_nothing():
    bar = Progress(3, "x", "mol", enabled=False)
    assert bar.steps(3, 10) is None
    called = []
    cb = bar.steps(3, 10, lambda *a: called.append(a))
    cb(0)
    assert called == [(0,)]
    assert list(progress_iter([1, 2, 3], "x", "mol", enabled=False)) == [1, 2, 3]
