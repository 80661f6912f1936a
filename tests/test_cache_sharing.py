"""The trained-model cache shared by workers: one training per key under concurrency, no pickle, no leftovers."""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import pytest

from dse.runs.folder import RunError
from dse.search.cachefolders import cached_folder
from dse.search.evaluate import SnnEvaluator
from dse.search.space import DEFAULT_SPACE


def _slow_make(count_file: str):
    def make(folder: Path) -> dict:
        with open(count_file, "a") as f:
            f.write("x")
        time.sleep(0.5)  # long enough that every process asks while the first one trains
        folder.mkdir()
        manifest = {"made_by": mp.current_process().name}
        (folder / "manifest.json").write_text(json.dumps(manifest))
        return manifest

    return make


def _worker(final: str, count_file: str, out: str) -> None:
    manifest, made = cached_folder(Path(final), _slow_make(count_file))
    Path(out).write_text(json.dumps({"manifest": manifest, "made": made}))


def test_concurrent_workers_train_a_key_once(tmp_path):
    final, count = tmp_path / "cache" / "train-abc", tmp_path / "count"
    stale = tmp_path / "cache" / ".train-abc.partial-999-deadbeef"  # left by a worker killed mid-training
    stale.mkdir(parents=True)
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(str(final), str(count), str(tmp_path / f"out{k}")), name=f"p{k}")
             for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert count.read_text() == "x"  # trained once
    results = [json.loads((tmp_path / f"out{k}").read_text()) for k in range(4)]
    assert sum(r["made"] for r in results) == 1
    assert len({r["manifest"]["made_by"] for r in results}) == 1  # everyone got the one folder
    assert not stale.exists() and not list(final.parent.glob(".*partial*"))


def test_a_pickled_object_in_the_cache_is_refused(tmp_path, monkeypatch):
    from dse.data import locate

    monkeypatch.delenv("DSE_DATA_DIR", raising=False)
    monkeypatch.setattr(locate, "user_cache_dir", lambda: tmp_path / "no-cache")
    ev = SnnEvaluator(dataset="mnist", cache_dir=tmp_path / "cache", train_samples=60, assign_samples=60,
                      test_samples=40)
    base = {"design": "fspinn", "neurons": 10, "inh_bits": 32, "vmem_bits": 32, "vth_bits": 32, "rho": 2.0,
            "window_steps": 50}
    fp32 = DEFAULT_SPACE.candidate({**base, "weights_bits": 32})
    first = ev.evaluate(fp32, 60)
    assert first.trainings == 1
    run = Path(first.run_dir)
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            import pathlib
            return (pathlib.Path.touch, (marker,))

    # Someone with write access to the shared cache swaps the weights for a pickle.
    np.savez(run / "weights.npz", weights=np.array([Payload()], dtype=object), theta=np.zeros(10))
    ptq = DEFAULT_SPACE.candidate({**base, "weights_bits": 8, "scheme": "ptq", "rounding": "nearest"})
    with pytest.raises(RunError, match="weights.npz"):
        ev.evaluate(ptq, 60)  # the PTQ variant loads the cached FP32 weights
    assert not marker.exists()
