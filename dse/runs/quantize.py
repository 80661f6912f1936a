"""Post-training quantization (PTQ) of a finished FP32 run into a new run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dse.errors import Param, ParameterError
from dse.runs import folder, validate
from dse.models.counts import counts_to_dict, per_image
from dse.models.network import NetworkState, Simulator
from dse.models.quantize import parse_quant
from dse.runs.health import network_health
from dse.progress import ProgressSink
from dse.runs.inference import assign_and_test, resolve_engine, select
from dse.runs.train import observed_ranges, quant_record, write_results


def build_spec(weights: str | None = None, inh: str | None = None, vmem: str | None = None,
               vth: str | None = None) -> str:
    parts = [f"{k}={v}" for k, v in (("weights", weights), ("inh", inh), ("vmem", vmem), ("vth", vth)) if v]
    if not parts:
        raise ParameterError("nothing to quantize: give at least one of ", Param("weights"), ", ", Param("inh"), ", ",
                             Param("vmem"), ", ", Param("vth"))
    return ",".join(parts)


def load_fp32_run(run_dir: Path) -> tuple[dict[str, Any], NetworkState]:
    """A finished FP32 run: its manifest and weights, checked (dse.runs.validate) before anything uses them."""
    manifest = folder.read_manifest(run_dir)
    validate.run_config(run_dir, manifest)
    validate.quantize_source(run_dir, manifest)
    if (manifest.get("quantization") or {}).get("scheme", "fp32") != "fp32":
        raise folder.RunError(f"{run_dir}: already quantized ({manifest['quantization'].get('spec')}); "
                              "quantize the FP32 run it came from")
    recipe = validate.run_recipe(run_dir, manifest)
    return manifest, validate.run_state(run_dir, manifest, recipe, None)


def quantize_run(run_dir: Path, out_dir: Path, spec: str, rounding: str, *, data_dir: str | None = None,
                 test_samples: int | None = None, engine: str = "auto",
                 progress: ProgressSink | None = None) -> dict[str, Any]:
    """Quantize a trained FP32 run with `spec` (e.g. "weights=Q0.8"), evaluate, write `out_dir`."""
    from dse.data.locate import load_dataset

    progress = progress or ProgressSink()
    out_dir = Path(out_dir)
    folder.check_out_dir(out_dir)
    if (out_dir / folder.MANIFEST).exists():
        raise folder.RunError(f"{out_dir}: already holds a finished run; choose another ", Param("out_dir"))
    source, fp32 = load_fp32_run(Path(run_dir))
    cfg = source["config"]
    recipe = validate.run_recipe(Path(run_dir), source)
    quant = parse_quant(spec, rounding, seed=int(cfg["seed"]), ranges=source.get("ranges"))
    state = NetworkState(quant.weight_codes(fp32.weights) if quant.weights else fp32.weights.copy(),
                         fp32.theta.copy())
    dataset = load_dataset(cfg["dataset"], data_dir)
    if dataset.sha256 != source["data"]["sha256"]:
        raise folder.RunError(f"{run_dir}: was trained on data {source['data']['sha256'][:12]}..., "
                              f"but {dataset.source} is {dataset.sha256[:12]}...; give the same ", Param("data_dir"))
    sim = Simulator(recipe, quant=quant)
    train = select(dataset.train_images, dataset.train_labels, cfg.get("train_samples"))
    test = select(dataset.test_images, dataset.test_labels, test_samples or cfg.get("test_samples"))
    inference = assign_and_test(sim, state, train, test, cfg.get("assign_samples"), cfg["seed"], engine, progress)
    evaluation, counts, infer_s, n_images = inference[:4]
    metrics, fp32 = evaluation.to_dict(), source.get("metrics")
    manifest = {
        **{k: source[k] for k in ("schema_version", "config", "data", "ranges") if k in source},
        "kind": "quantize",
        "created": folder.now_iso(),
        "versions": folder.versions(),
        "quantization": {**quant_record(quant, "ptq"), "source_run": str(run_dir),
                         # an untested source (a search's PTQ parent) has no FP32 accuracy to compare with
                         "fp32_accuracy": fp32["accuracy"] if fp32 else None,
                         "fp32_accuracy_proportion": fp32["accuracy_proportion"] if fp32 else None,
                         "accuracy_change": metrics["accuracy"] - fp32["accuracy"] if fp32 else None},
        "metrics": metrics,
        "counts": {"training": source["counts"]["training"],
                   "training_per_image": source["counts"]["training_per_image"],
                   "inference": counts_to_dict(counts),
                   "inference_per_image": per_image(counts_to_dict(counts))},
        "timings": {"measured_on": folder.cpu_model(), "infer_s": round(infer_s, 3),
                    "infer_images_per_s": round(n_images / infer_s, 1) if infer_s > 0 else None,
                    "engine": resolve_engine(engine), "training": "see source_run",
                    "note": "measured wall-clock time on this machine"},
        "files": {"weights": folder.WEIGHTS, "weights_png": folder.WEIGHTS_PNG},
    }
    manifest["data"] = {**manifest["data"], "n_test_used": metrics["n_test"]}
    manifest["ranges_after"] = observed_ranges(recipe, state, quant)
    manifest["health"] = network_health(recipe, state.theta, None, inference.test_spike_counts)
    return write_results(out_dir, state, evaluation.assignment.labels, manifest, quant)


def weight_format_for_bits(bits: int, max_weight: float) -> str:
    """Qi.f of `bits` bits whose integer part covers the run's largest weight."""
    from dse.models.fixedpoint import choose_int_bits

    int_bits = choose_int_bits(max_weight)
    if bits <= int_bits:
        raise ValueError(f"{bits} bits cannot hold weights up to {max_weight:.3g} (need > {int_bits} bits)")
    return f"Q{int_bits}.{bits - int_bits}"
