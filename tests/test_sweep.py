"""dse sweep-bits: cells are run folders, reused on a rerun; CSV and HTML outputs."""

from __future__ import annotations

import csv

import pytest

from dse.runs.quantize import weight_format_for_bits
from dse.runs.sweep import sweep_bits, sweep_figure


@pytest.fixture()
def bundled_only(monkeypatch, tmp_path):
    from dse.data import locate

    monkeypatch.delenv("DSE_DATA_DIR", raising=False)
    monkeypatch.setattr(locate, "user_cache_dir", lambda: tmp_path / "no-cache")
    monkeypatch.setattr(locate, "SYSTEM_DATA_ROOT", tmp_path / "no-system")


def test_sweep_writes_rows_and_reuses_cells(tmp_path, bundled_only):
    out = tmp_path / "sweep"
    kw = dict(designs=("fspinn", "sl-stdp"), dataset="mnist", neurons=10, bits=(4, 8),
              train_samples=120, test_samples=80)
    rows = sweep_bits(out, **kw)
    assert [(r["design"], r["bits"]) for r in rows] == [("fspinn", 4), ("fspinn", 8), ("sl-stdp", 4), ("sl-stdp", 8)]
    assert all(0 <= r["accuracy_low"] <= r["accuracy"] <= r["accuracy_high"] <= 1 for r in rows)
    with open(out / "sweep-ptq-nearest.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 4
    html = (out / "sweep-ptq-nearest.html").read_text()
    assert "plotly" in html.lower() and "Accuracy vs weight bit-width" in html
    stamp = (out / "fspinn-fp32" / "manifest.json").stat().st_mtime_ns
    again = sweep_bits(out, **kw)
    assert again == rows
    assert (out / "fspinn-fp32" / "manifest.json").stat().st_mtime_ns == stamp


def test_sweep_figure_has_one_trace_per_design():
    rows = [{"design": d, "bits": b, "accuracy": 0.5 + b / 100, "accuracy_low": 0.4, "accuracy_high": 0.9,
             "fp32_accuracy": 0.8} for d in ("a", "b") for b in (4, 8, 16)]
    fig = sweep_figure(rows, "t")
    assert [t.name for t in fig.data] == ["a", "b"]
    assert list(fig.data[0].x) == [4, 8, 16]


def test_weight_format_keeps_word_length():
    assert weight_format_for_bits(8, 0.9) == "Q0.8"
    assert weight_format_for_bits(8, 1.2) == "Q1.7"
    with pytest.raises(ValueError):
        weight_format_for_bits(1, 3.0)


def test_bad_sweep_arguments(tmp_path):
    with pytest.raises(ValueError, match="scheme"):
        sweep_bits(tmp_path, designs=("fspinn",), dataset="mnist", neurons=5, scheme="qat")
    with pytest.raises(ValueError, match="2..32"):
        sweep_bits(tmp_path, designs=("fspinn",), dataset="mnist", neurons=5, bits=(40,))
