"""Measured inference rates measure inference: loading the engine or starting a device happens before the clock."""

from __future__ import annotations

import time

from dse.runs import inference
from dse.runs.inference import evaluate_run
from dse.runs.train import TrainConfig, train_run

SLOW_FIRST_CALL_S = 3.0  # stands for loading numba's cache, importing torch, starting CUDA


def test_a_slow_first_inference_call_is_not_timed(tmp_path, monkeypatch):
    run = tmp_path / "run"
    train_run(TrainConfig(design="fspinn", dataset="mnist", neurons=10, train_samples=100, assign_samples=100,
                          test_samples=100), run)
    real, sizes = inference.run_inference, []

    def slow_first(sim, state, images, *args, **kwargs):
        if not sizes:
            time.sleep(SLOW_FIRST_CALL_S)
        sizes.append(len(images))
        return real(sim, state, images, *args, **kwargs)

    monkeypatch.setattr(inference, "run_inference", slow_first)
    result = evaluate_run(run)
    assert sizes == [1, 100, 100]  # one blank image first, then label assignment and the test
    assert result["timings"]["infer_s"] < SLOW_FIRST_CALL_S
