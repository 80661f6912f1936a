"""Measure the simulator on this machine: wall time, CPU time and energy per image, per phase.

`dse measure` runs a grid of designs x sizes x precisions, training on the
first K training images and then inferring on the first K test images, and
records one entry per (design, N, precision, phase) in ``measurements.json``
(written atomically after every cell, so an interrupted grid resumes where it
stopped).  Compile time is excluded (a warm-up call runs first).

Energy per region comes from :mod:`dse.calibration.meters` (NVML, RAPL, or modelled
power x measured time, labelled).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dse.errors import Param, ParameterError
from dse.progress import ProgressSink
from dse.cost import PHASES
from dse.calibration.grid import Cell, grid_cells
from dse.calibration.meters import POWERCAP_ROOT, NvmlCounter, RaplCounter, choose_meter, one_line

MEASUREMENTS = "measurements.json"
DEFAULT_SIZES = (100, 225, 400, 625, 900)
DEFAULT_IMAGES = 300
DEFAULT_REPEATS = 5
# The order a cell is measured in: training first, so inference runs on the trained weights.
RUN_ORDER = ("training", "inference")


# --------------------------------------------------------------------------- the grid


@dataclass(frozen=True)
class Settings:
    images: int
    dataset: str
    data_dir: str | None
    seed: int
    engine: str
    repeats: int = 3
    # Inference threads (None: numba's setting). One thread is the robust
    # choice on a shared machine: CPU time then excludes the thread pool's
    # waiting and the threads' fight for the cores.
    threads: int | None = None

    def identity(self, data_sha256: str) -> dict[str, Any]:
        # repeats is not part of it: more rounds may be added to a finished grid later
        return {"images": self.images, "dataset": self.dataset, "data_sha256": data_sha256,
                "seed": self.seed, "engine": self.engine}


def record_key(design: str, neurons: int, precision: str, phase: str, variant: str = "") -> str:
    """design/N/precision/phase, then /variant for a probe of the full grid (grid.py)."""
    key = f"{design}/{neurons}/{precision}/{phase}"
    return f"{key}/{variant}" if variant else key


# Record fields the readers index, by kind: the first four identify a record and are always needed.
_RECORD_FIELDS = {"design": "str", "neurons": "count", "precision": "str", "phase": "phase", "key": "str",
                  "images": "count", "counts_per_image": "numbers", "wall_s": "seconds", "cpu_s": "seconds",
                  "wall_s_per_image": "seconds", "cpu_s_per_image": "seconds", "energy_j_per_image": "number",
                  "wall_s_all": "numbers", "cpu_s_all": "numbers", "variant": "str"}
# No clock here measures less than a picosecond: smaller times (denormals) make the fit divide by ~0.
MIN_SECONDS = 1e-12
_RECORD_ID = ("design", "neurons", "precision", "phase")
# What measure_grid needs to add samples to a record of its own file.
_RESUME_FIELDS = ("key", "images", "wall_s", "cpu_s", "wall_s_all", "cpu_s_all")


def _is_number(x: Any) -> bool:
    """Finite, >= 0 and bounded (dse.runs.validate): beyond that, products with coefficients overflow."""
    from dse.runs.validate import bounded

    return isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0 and bounded(x)


def _field_problem(kind: str, value: Any) -> str | None:
    ok = {"str": lambda v: isinstance(v, str),
          "count": lambda v: type(v) is int and v > 0,
          "phase": lambda v: v in PHASES,
          "number": _is_number,
          "seconds": lambda v: _is_number(v) and (v == 0 or v >= MIN_SECONDS),
          "numbers": lambda v: (isinstance(v, dict) and all(map(_is_number, v.values())))
                               or (isinstance(v, list) and all(map(_is_number, v)))}[kind](value)
    return None if ok else f"is {one_line(repr(value))[:40]}"


def load_measurements(path: Path, require: Sequence[str] = ()) -> dict[str, Any]:
    """Read a measurements file; ValueError with one line when it is not one.

    Every record needs the identity fields and the ``require`` fields, and
    every field a reader uses must have the right type.
    """
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such measurements file (write one with `dse measure --out DIR`)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable measurements file ({one_line(exc)})") from None
    if not isinstance(doc, dict) or doc.get("kind") != "measurements" or not isinstance(doc.get("records"), list):
        raise ValueError(f"{path}: not a `dse measure` measurements file")
    for i, rec in enumerate(doc["records"]):
        if not isinstance(rec, dict):
            raise ValueError(f"{path}: record {i} is not an object; measure again with `dse measure`")
        for name in (*_RECORD_ID, *require):
            if name not in rec:
                raise ValueError(f"{path}: record {i} has no {name!r}; measure again with `dse measure`")
        for name, kind in _RECORD_FIELDS.items():
            problem = _field_problem(kind, rec[name]) if name in rec else None
            if problem:
                raise ValueError(f"{path}: record {i} field {name!r} {problem}; measure again with `dse measure`")
    return doc


def measure_grid(designs: Sequence[str], sizes: Sequence[int], precisions: Sequence[str], settings: Settings,
                 out_dir: Path, *, grid: str = "sizes", profile_name: str = "cpu", nvml: Any = None,
                 powercap_root: Path = POWERCAP_ROOT,
                 on_record: Callable[[dict[str, Any], bool], None] | None = None,
                 progress: ProgressSink | None = None) -> dict[str, Any]:
    """Measure every cell of the grid (grid.py) not already in ``out_dir/measurements.json``.

    ``grid="sizes"``: every design x size x precision at the recipe's input;
    ``grid="full"`` adds the probes that separate the cost terms. ``progress``
    hears the phase "measure": cell samples done of cells x repeats, those
    already in the file included.
    """
    import numba

    from dse.runs import folder
    from dse.cost.profiles import load_profile
    from dse.cost.quant import parse_precision
    from dse.data.locate import load_dataset

    _check_grid(designs, sizes, settings)
    canon = [parse_precision(p).spec() for p in precisions]
    cells = grid_cells(designs, sizes, canon, grid)
    folder.check_out_dir(Path(out_dir))
    profile = load_profile(profile_name)
    ds = load_dataset(settings.dataset, settings.data_dir)
    identity = settings.identity(ds.sha256)
    path = Path(out_dir) / MEASUREMENTS

    cpu = folder.cpu_model()
    cores = os.cpu_count() or 1
    nv = NvmlCounter(nvml)
    rapl = RaplCounter(powercap_root)
    doc = _open_measurements(path, identity, folder.now_iso())
    doc["machine"] = {"cpu": cpu, "cores": cores, "nvidia": nv.note, "rapl": rapl.note,
                      "energy_profile": profile.name}
    doc["versions"] = folder.versions()
    by_key = {r["key"]: r for r in doc["records"]}
    threads_before = numba.get_num_threads()
    if settings.threads is not None:
        numba.set_num_threads(max(1, min(settings.threads, numba.config.NUMBA_NUM_THREADS)))
    reported: set[str] = set()
    progress = progress or ProgressSink()
    progress.start("measure", settings.repeats * len(cells))
    try:
        # Rounds sweep the whole grid, so a burst of load from other processes
        # hits one sample of many cells rather than every sample of one cell;
        # each record keeps the fastest of its samples.
        for round_ in range(settings.repeats):
            for k_cell, cell in enumerate(cells):
                progress.advance("measure", round_ * len(cells) + k_cell)
                keys = _cell_keys(cell)
                if all(k in by_key and len(by_key[k]["cpu_s_all"]) > round_ for k in keys):
                    continue
                fresh = _measure_round(cell, settings, ds, nv, rapl, profile, cpu, cores)
                for rec in fresh:
                    by_key[rec["key"]] = _merge(by_key.get(rec["key"]), rec, settings.repeats)
                doc["records"] = sorted(by_key.values(), key=_order(cells))
                doc["updated"] = folder.now_iso()
                folder.atomic_write_json(path, doc)
                if round_ == settings.repeats - 1 and on_record:
                    for k in keys:
                        reported.add(k)
                        on_record(by_key[k], False)
        progress.finish("measure")
        if on_record:
            for cell in cells:
                for k in _cell_keys(cell):
                    if k not in reported:
                        on_record(by_key[k], True)
    finally:
        numba.set_num_threads(threads_before)
        nv.close()
    return doc


def _open_measurements(path: Path, identity: dict[str, Any], now: str) -> dict[str, Any]:
    """The measurements file to add to (its settings must be these), or a new, empty one."""
    if not path.exists():
        return {"schema_version": 1, "kind": "measurements", "created": now, "settings": identity, "records": []}
    doc = load_measurements(path, _RESUME_FIELDS)
    if doc.get("settings") != identity:
        raise ParameterError(f"{path}: measured with other settings ({doc.get('settings')}); use the same ",
                             Param("images"), "/", Param("dataset"), "/", Param("seed"), "/", Param("engine"),
                             " or another ", Param("out_dir"))
    return doc


def _check_grid(designs: Sequence[str], sizes: Sequence[int], settings: Settings) -> None:
    from dse.models.network import MAX_NEURONS
    from dse.models.recipes import DESIGNS

    for d in designs:
        if d not in DESIGNS:
            raise ValueError(f"unknown design {d!r}: choose one of {', '.join(DESIGNS)}")
    for n in sizes:
        if not 0 < n <= MAX_NEURONS:
            raise ValueError(f"sizes must be > 0 and at most {MAX_NEURONS}, got {n}")
    if settings.images <= 0:
        raise ParameterError(Param("images"), f" must be > 0, got {settings.images}")
    if settings.repeats <= 0:
        raise ParameterError(Param("repeats"), f" must be > 0, got {settings.repeats}")


def _cell_keys(cell: Cell) -> list[str]:
    return [record_key(cell.design, cell.neurons, cell.precision, ph, cell.variant.name) for ph in RUN_ORDER]


def _order(cells: list[Cell]) -> Callable[[dict[str, Any]], tuple]:
    """Records in grid order, then phase; records of cells outside this grid go last, by key."""
    rank = {(c.design, c.neurons, c.precision, c.variant.name): i for i, c in enumerate(cells)}

    def key(rec: dict[str, Any]) -> tuple:
        cell = (rec["design"], int(rec["neurons"]), rec["precision"], rec.get("variant", ""))
        phase = RUN_ORDER.index(rec["phase"]) if rec["phase"] in RUN_ORDER else len(RUN_ORDER)
        return (rank.get(cell, len(rank)), "" if cell in rank else rec["key"], phase)

    return key


def _merge(old: dict[str, Any] | None, new: dict[str, Any], repeats: int) -> dict[str, Any]:
    """Add one sample to a record: the fastest wall and CPU times win (counts are identical by construction)."""
    if old is None:
        return new
    out = dict(old)
    out["wall_s_all"] = old["wall_s_all"] + new["wall_s_all"]
    out["cpu_s_all"] = old["cpu_s_all"] + new["cpu_s_all"]
    if "weights_address_mod_64_all" in old:  # one per sample, in the order of cpu_s_all
        out["weights_address_mod_64_all"] = old["weights_address_mod_64_all"] + new["weights_address_mod_64_all"]
    k = old["images"]
    out["cpu_s"] = min(out["cpu_s_all"])
    out["cpu_s_per_image"] = out["cpu_s"] / k
    if new["wall_s"] < old["wall_s"]:  # energy goes with the fastest wall-clock sample
        for field in ("wall_s", "wall_s_per_image", "energy_j_per_image", "energy_label", "energy_source"):
            out[field] = new[field]
    out["repeats"] = len(out["cpu_s_all"])
    out["time_label"] = (f"measured (fastest of {out['repeats']} samples taken in separate rounds: wall clock and "
                         f"process CPU time on {new['device']})")
    return out


def _measure_round(cell: Cell, settings: Settings, ds: Any, nv: NvmlCounter,
                   rapl: RaplCounter, profile: Any, cpu: str, cores: int) -> list[dict[str, Any]]:
    """One sample of both phases of one cell: train a fresh network on K images, then infer K test images."""
    import numba
    import numpy as np

    from dse.models.counts import counts_to_dict, new_counts, per_image
    from dse.models.network import NetworkState, Simulator, init_state
    from dse.models.quantize import parse_quant
    from dse.models.recipes import load_recipe
    from dse.runs.inference import TEST_STREAM, resolve_engine, run_inference

    design, n, spec, variant = cell.design, cell.neurons, cell.precision, cell.variant
    k = settings.images
    train_x = np.ascontiguousarray(ds.train_images[np.arange(k) % len(ds.train_images)])
    test_x = np.ascontiguousarray(ds.test_images[np.arange(k) % len(ds.test_images)])
    if variant.blank:
        train_x, test_x = np.zeros_like(train_x), np.zeros_like(test_x)
    quant = None if spec == "fp32" else parse_quant(spec)
    recipe = load_recipe(design, variant.overrides(load_recipe(design).sections["input"]))
    sim = Simulator(recipe, quant=quant)
    fresh = init_state(n, recipe, settings.seed, quant=quant)
    state = NetworkState(weights_at_offset(fresh.weights, WEIGHTS_OFFSET), fresh.theta)
    engine = resolve_engine(settings.engine)

    warm = NetworkState(state.weights.copy(), state.theta.copy())  # compile outside the timed region
    sim.train(warm, train_x[:2], 0, settings.seed, new_counts())
    run_inference(sim, warm, test_x[:2], TEST_STREAM, settings.seed, new_counts(), engine)

    out = []
    for phase in RUN_ORDER:
        on_gpu = phase == "inference" and engine == "torch" and nv.available
        meter = choose_meter(on_gpu, nv, rapl, profile, cpu, cores)
        counts = new_counts()
        token = meter.start()
        c0, t0 = time.process_time(), time.perf_counter()
        if phase == "training":
            sim.train(state, train_x, 0, settings.seed, counts)
        else:
            run_inference(sim, state, test_x, TEST_STREAM, settings.seed, counts, engine)
        wall_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        energy = meter.stop(token, wall_s, cpu_s)
        totals = counts_to_dict(counts)
        device = nv.name if on_gpu else cpu
        out.append({
            "key": record_key(design, n, spec, phase, variant.name), "design": design, "neurons": n,
            "precision": spec, "phase": phase, "variant": variant.name, "images": k,
            "f_max_hz": recipe.get("input", "f_max_hz"), "presentation_steps": recipe.get("input", "presentation_steps"),
            "inputs": "blank" if variant.blank else "images", "dataset": settings.dataset, "data_source": ds.source,
            "engine": "numba" if phase == "training" else engine,
            "threads": 1 if phase == "training" else numba.get_num_threads(), "device": device,
            # where the sample's weights started (WEIGHTS_OFFSET): row alignment moves the synaptic loop's speed
            "weights_address_mod_64_all": [int(state.weights.ctypes.data % 64)],
            "counts": totals, "counts_per_image": per_image(totals),
            "repeats": 1, "wall_s_all": [wall_s], "cpu_s_all": [cpu_s],
            "wall_s": wall_s, "cpu_s": cpu_s, "wall_s_per_image": wall_s / k, "cpu_s_per_image": cpu_s / k,
            "energy_j_per_image": energy.energy_j / k, "energy_label": energy.label,
            "energy_source": energy.source,
            "time_label": f"measured (wall clock and process CPU time on {device})",
        })
    return out


# Where every sample's weight matrix starts, in bytes past a 64-byte boundary. Rows of whole
# 32-byte vectors (N a multiple of 8 in FP32) on an aligned start run the synaptic loop about
# 10% faster; the allocator decides that at random, and the cost model does not price it. A
# fixed start 16 bytes off makes every sample comparable and every size's rows misaligned, as
# they are for most N whatever the start (docs/cost-model.md, "Row alignment").
WEIGHTS_OFFSET = 16


def weights_at_offset(weights: Any, offset: int) -> Any:
    """A copy of the weights whose data start ``offset`` bytes past a 64-byte boundary."""
    import numpy as np

    buf = np.empty(weights.nbytes + 128, dtype=np.uint8)
    start = (-buf.ctypes.data) % 64 + offset
    out = buf[start:start + weights.nbytes].view(weights.dtype).reshape(weights.shape)
    out[...] = weights
    return out


def parse_sizes(values: Iterable[str]) -> list[int]:
    from dse.models.network import MAX_NEURONS

    out = []
    for v in values:
        for part in str(v).replace(",", " ").split():
            try:
                n = int(part)
            except ValueError:
                raise ValueError(f"sizes must be whole numbers, got {part!r}") from None
            if not 0 < n <= MAX_NEURONS:
                raise ValueError(f"sizes must be > 0 and at most {MAX_NEURONS}, got {n}")
            out.append(n)
    return out
