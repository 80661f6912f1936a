"""Accuracy versus weight bit-width (FSpiNN Fig. 16/17): PTQ of FP32 runs, or ITQ trainings."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Callable

from dse.errors import Param
from dse.runs import folder
from dse.runs.quantize import quantize_run, weight_format_for_bits
from dse.progress import ProgressSink
from dse.runs.train import TrainConfig, train_run

DEFAULT_BITS = (4, 6, 8, 10, 12, 16, 32)
CSV_FIELDS = ("design", "dataset", "neurons", "scheme", "bits", "format", "rounding", "accuracy",
              "accuracy_low", "accuracy_high", "accuracy_proportion", "fp32_accuracy", "run")


def sweep_bits(out_dir: Path, *, designs: tuple[str, ...], dataset: str, neurons: int,
               bits: tuple[int, ...] = DEFAULT_BITS, scheme: str = "ptq", rounding: str = "nearest",
               train_samples: int | None = None, test_samples: int | None = None, seed: int = 0,
               data_dir: str | None = None, epochs: int = 1,
               on_row: Callable[[dict[str, Any]], None] | None = None,
               progress: ProgressSink | None = None) -> list[dict[str, Any]]:
    """Every (design, bits) cell is a run folder under out_dir; finished cells are reused.

    ``progress`` hears the phase "sweep" (cells done of all) and, inside it, each
    training's and evaluation's own phases.
    """
    if scheme not in ("ptq", "itq"):
        raise ValueError(f"unknown scheme '{scheme}': choose ptq or itq")
    if not bits or any(b < 2 or b > 32 for b in bits):
        raise ValueError("bit-widths must be in 2..32")
    out_dir = Path(out_dir)
    folder.check_out_dir(out_dir)
    bases = {design: TrainConfig(design=design, dataset=dataset, neurons=neurons, epochs=epochs,
                                 train_samples=train_samples, test_samples=test_samples, seed=seed)
             for design in designs}
    _check_before_work(out_dir, bases, dataset, data_dir)
    progress = progress or ProgressSink()
    rows: list[dict[str, Any]] = []
    progress.start("sweep", len(designs) * len(bits))
    for design, base in bases.items():
        fp32 = _cached(out_dir / f"{design}-fp32",
                       lambda d: train_run(base, d, data_dir=data_dir, progress=progress), base)
        max_w = fp32["ranges"]["weights"]
        for b in bits:
            # ITQ uses the integer bits the FP32 run needed too, so both schemes compare like for like.
            fmt = weight_format_for_bits(b, max_w)
            cell = out_dir / f"{design}-{scheme}-{rounding}-{fmt.replace('.', '_')}"
            if scheme == "ptq":
                m = _cached(cell, lambda d: quantize_run(out_dir / f"{design}-fp32", d, f"weights={fmt}",
                                                         rounding, data_dir=data_dir, progress=progress), base)
            else:
                cfg = TrainConfig(**{**base.__dict__, "quant": f"weights={fmt}", "rounding": rounding})
                m = _cached(cell, lambda d: train_run(cfg, d, data_dir=data_dir, progress=progress), base)
            row = _row(design, dataset, neurons, scheme, b, fmt, rounding, m, fp32, cell)
            rows.append(row)
            progress.advance("sweep", len(rows))
            if on_row:
                on_row(row)
    progress.finish("sweep")
    write_outputs(out_dir, output_stem(scheme, rounding), rows,
                  title=f"Accuracy vs weight bit-width: {dataset}, Net{neurons}, {scheme.upper()}, {rounding}")
    return rows


def output_stem(scheme: str, rounding: str) -> str:
    """Outputs are named by scheme and rounding so sweeps of one folder do not overwrite each other."""
    return f"sweep-{scheme}-{rounding}"


# What a reused cell must have been made with (its folder name says the design, scheme and format).
_CELL_SETTINGS = ("dataset", "neurons", "epochs", "train_samples", "test_samples", "seed")


def _cached(path: Path, make: Callable[[Path], dict[str, Any]], expected: TrainConfig) -> dict[str, Any]:
    from dse.runs import validate

    manifest = folder.read_manifest(path) if (path / folder.MANIFEST).exists() else make(path)
    validate.cached_run(path, manifest, ranges=True)
    _check_settings(path, manifest, expected)
    return manifest


def _check_settings(path: Path, manifest: dict[str, Any], expected: TrainConfig) -> None:
    made = manifest.get("config") or {}
    other = [k for k in _CELL_SETTINGS if made.get(k) != getattr(expected, k)]
    if other:  # a folder of another sweep: its cells would be rows of this one
        raise folder.RunError(Param("out_dir"), f" {path.parent}: {path.name} was made with other settings "
                              f"({', '.join(other)}); choose another ", Param("out_dir"),
                              " or repeat the settings it was made with")


def _check_before_work(out_dir: Path, bases: dict[str, TrainConfig], dataset: str, data_dir: str | None) -> None:
    """Refuse, before any progress or work, what would be refused later: a bad config, bad data, a
    folder of another sweep (its FP32 cells name the settings they were made with)."""
    from dse.data.locate import load_dataset

    for base in bases.values():
        base.validate()
    load_dataset(dataset, data_dir)
    for design, base in bases.items():
        fp32 = out_dir / f"{design}-fp32"
        if (fp32 / folder.MANIFEST).exists():
            _check_settings(fp32, folder.read_manifest(fp32), base)


def _row(design, dataset, neurons, scheme, bits, fmt, rounding, m, fp32, cell) -> dict[str, Any]:
    met = m["metrics"]
    return {"design": design, "dataset": dataset, "neurons": neurons, "scheme": scheme, "bits": bits,
            "format": fmt, "rounding": rounding, "accuracy": met["accuracy"],
            "accuracy_low": met["accuracy_ci95"][0], "accuracy_high": met["accuracy_ci95"][1],
            "accuracy_proportion": met["accuracy_proportion"],
            "fp32_accuracy": fp32["metrics"]["accuracy"], "run": str(cell)}


def write_outputs(out_dir: Path, stem: str, rows: list[dict[str, Any]], title: str) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    folder.atomic_write_bytes(out_dir / f"{stem}.csv", buf.getvalue().encode())
    folder.atomic_write_bytes(out_dir / f"{stem}.html", sweep_html(rows, title).encode())


def sweep_figure(rows: list[dict[str, Any]], title: str):
    """Pure: rows -> plotly figure (accuracy with 95% CI vs bits, one line per design, FP32 dashed)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for design in dict.fromkeys(r["design"] for r in rows):
        rs = sorted((r for r in rows if r["design"] == design), key=lambda r: r["bits"])
        fig.add_trace(go.Scatter(
            x=[r["bits"] for r in rs], y=[100 * r["accuracy"] for r in rs], mode="lines+markers", name=design,
            error_y=dict(type="data", symmetric=False,
                         array=[100 * (r["accuracy_high"] - r["accuracy"]) for r in rs],
                         arrayminus=[100 * (r["accuracy"] - r["accuracy_low"]) for r in rs])))
        fig.add_hline(y=100 * rs[0]["fp32_accuracy"], line_dash="dot",
                      annotation_text=f"{design} FP32", annotation_position="bottom right")
    fig.update_layout(title=title, xaxis_title="weight bit-width", yaxis_title="accuracy (%)",
                      xaxis=dict(type="log", tickvals=sorted({r["bits"] for r in rows})),
                      template="plotly_white")
    return fig


def sweep_html(rows: list[dict[str, Any]], title: str) -> str:
    fig = sweep_figure(rows, title)
    # plotly.js inlined: the file works offline; plotly escapes the title text itself.
    return fig.to_html(include_plotlyjs=True, full_html=True)


def rows_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, indent=2)
