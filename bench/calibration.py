"""Calibrate the cost model on this machine and print the figures docs/cost-model.md quotes.

    .venv/bin/python bench/calibration.py [--out reports/calibration] [--write-activity] [--without-engine-counts]

1. `dse measure` with its defaults (the full grid: 3 designs x 5 sizes plus
   the probes, 300 images, 5 rounds, inference on one thread) on MNIST into
   OUT/mnist/measurements.json, and the sizes grid on Fashion-MNIST into
   OUT/fashion-mnist/measurements.json (each resumes if already there);
2. `dse calibrate` of the `cpu` profile on both -> OUT/cpu-calibrated.toml,
   printing each coefficient with its 95% interval, the grid's condition
   number, the held-out MAPEs (leave one size out, leave one design out,
   MNIST to Fashion-MNIST) and the probes;
3. the FSpiNN memory figures (dense accounting) next to the paper's;
4. `dse compare-hw` ratios, FSpiNN 8-bit vs baseline FP32 at Net4900, on the
   three GPUs of the paper, beside the paper's 3.5x / 1.8x.

With --write-activity it first measures longer runs (2,000 images, sizes
100, 400, 900) into OUT/activity/ and rewrites dse/cost/activity.toml, the
activity model's statistics, from them.

With --without-engine-counts it also calibrates on copies of the two files
without the engine-actual counts (models/counts.py: columns_normalised,
depressions), as a run recorded before them: the event pricing then guesses
them from an even spread of the spikes. The copies go to
OUT/without-engine-counts/.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ACTIVITY_SIZES = ("100", "400", "900")
ACTIVITY_IMAGES = "2000"


def main(argv: list[str] | None = None) -> int:
    from dse.cli.main import main as dse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "reports" / "calibration"))
    ap.add_argument("--write-activity", action="store_true")
    ap.add_argument("--without-engine-counts", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)

    if args.write_activity:
        act = out / "activity"
        rc = dse(["measure", "--grid", "sizes", "--sizes", *ACTIVITY_SIZES, "--images", ACTIVITY_IMAGES,
                  "--repeats", "1", "--out", str(act)])
        if rc:
            return rc
        from dse.cost.activity import activity_table_toml
        from dse.calibration.measure import load_measurements

        doc = load_measurements(act / "measurements.json")
        s = doc["settings"]
        description = (f"dse measure --grid sizes --sizes {' '.join(ACTIVITY_SIZES)} --images {ACTIVITY_IMAGES} --repeats 1 "
                       f"(bench/calibration.py --write-activity) on {doc['machine']['cpu']}, {doc['created'][:10]}: "
                       f"untrained networks of each design trained on the first {s['images']} {s['dataset']} "
                       f"training images, then inferring on the first {s['images']} test images "
                       f"(data sha256 {s['data_sha256'][:12]}); fp32; seed {s['seed']}")
        text = activity_table_toml(doc["records"], description)
        (ROOT / "dse" / "cost" / "activity.toml").write_text(text)
        print(f"wrote dse/cost/activity.toml from {act / 'measurements.json'}")

    rc = dse(["measure", "--out", str(out / "mnist")]) or dse(
        ["measure", "--grid", "sizes", "--dataset", "fashion-mnist", "--out", str(out / "fashion-mnist")])
    if rc:
        return rc
    rc = dse(["calibrate", str(out / "mnist" / "measurements.json"), str(out / "fashion-mnist" / "measurements.json"),
              "--profile", "cpu", "--out", str(out / "cpu-calibrated.toml"), "--force"])
    if rc:
        return rc

    if args.without_engine_counts:
        print("\nthe same files without the engine-actual counts (the event pricing guesses them):")
        rc = dse(["calibrate", *_without_engine_counts(out), "--profile", "cpu", "--out",
                  str(out / "without-engine-counts" / "cpu-guessed.toml"), "--force"])
        if rc:
            return rc

    from dse.cost.memory import MB, memory_report
    from dse.cost.quant import parse_precision

    print("\nmemory, dense accounting (FSpiNN Sec. V-C):")
    base = memory_report("baseline", 4900, "inference", parse_precision("fp32")).total_bytes
    for label, design, n, q in (("baseline Net4900 FP32", "baseline", 4900, "fp32"),
                                ("fspinn Net4900 FP32", "fspinn", 4900, "fp32"),
                                ("fspinn Net4900 16-bit", "fspinn", 4900, "16bit"),
                                ("fspinn Net4900 8-bit", "fspinn", 4900, "8bit"),
                                ("fspinn Net100 8-bit", "fspinn", 100, "8bit")):
        b = memory_report(design, n, "inference", parse_precision(q)).total_bytes
        print(f"  {label:24s} {b / MB:9.3f} MB   baseline/this {base / b:5.2f}x")

    print("\nFSpiNN 8-bit vs baseline FP32, Net4900 (modelled; paper: 3.5x training, 1.8x inference):")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = dse(["compare-hw", "--design", "fspinn", "--neurons", "4900", "--quant", "8bit",
                  "--vs-design", "baseline", "--vs-quant", "fp32", "--profiles", "gtx1060,gtx1080ti,rtx2080ti",
                  "--json"])
    if rc:
        return rc
    for row in json.loads(buf.getvalue())["rows"]:
        r = row["energy_ratio"]
        print(f"  {row['profile']:10s} training {r['training']:.2f}x  inference {r['inference']:.2f}x")
    return 0


def _without_engine_counts(out: Path) -> list[str]:
    """Copies of OUT's two measurement files without the engine-actual counts; their paths."""
    from dse.models.counts import ENGINE_ACTUAL

    paths = []
    for name in ("mnist", "fashion-mnist"):
        doc = json.loads((out / name / "measurements.json").read_text())
        for rec in doc["records"]:
            for key in ENGINE_ACTUAL:
                rec["counts"].pop(key, None)
                rec["counts_per_image"].pop(key, None)
        path = out / "without-engine-counts" / name / "measurements.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc))
        paths.append(str(path))
    return paths


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
