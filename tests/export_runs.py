"""Small trained and quantized runs for the export tests, made once per test session.

Each design is trained on a few hundred images (seconds), quantized to the
cost model's 8-bit preset (weights Q0.8, inh Q6.2, vmem sQ7.0, vth sQ7.0,
nearest) and tested on the first N_TEST test images, so that the run's own
metrics are the engine's on exactly the images the export embeds.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from dse.cli.main import main
from dse.export import toolchain

N_TEST = 200
NEURONS = 64
PRESET_8BIT = ("--weights", "Q0.8", "--inh", "Q6.2", "--vmem", "Q7.0", "--vth", "Q7.0", "--rounding", "nearest")

_made: dict[tuple[str, ...], Path] = {}


def require_toolchain(why_missing: str | None) -> None:
    """Skip with the reason, or fail where CI installed the tools (DSE_REQUIRE_EXPORT_TOOLCHAINS=1)."""
    if why_missing is None:
        return
    if os.environ.get("DSE_REQUIRE_EXPORT_TOOLCHAINS") == "1":
        pytest.fail(f"C export toolchain required (DSE_REQUIRE_EXPORT_TOOLCHAINS=1) but {why_missing}")
    pytest.skip(why_missing)


def host_compiler_missing() -> str | None:
    try:
        toolchain.host_compiler()
    except toolchain.ToolchainError as exc:
        return f"{exc} (Debian: apt-get install gcc libc6-dev)"
    return None


def _cli(*argv: str) -> None:
    code = main(list(argv))
    assert code == 0, f"dse {' '.join(argv)} exited with {code}"


def fp32_run(root: Path, design: str, *overrides: str) -> Path:
    """The design trained on 300 images; ``overrides``: recipe settings (``SECTION.KEY=VALUE``)."""
    key = ("fp32", design, *overrides)
    if key not in _made:
        out = root / f"{design}-fp32{'-' + '-'.join(overrides) if overrides else ''}"
        sets = [arg for o in overrides for arg in ("--set", o)]
        _cli("train", "--design", design, "--neurons", str(NEURONS), "--train-samples", "300",
             "--assign-samples", "300", "--test-samples", str(N_TEST), "--seed", "7", "--quiet", *sets,
             "--out", str(out))
        _made[key] = out
    return _made[key]


def quantized_run(root: Path, design: str, *quant: str, name: str = "8bit") -> Path:
    """`dse quantize` of the design's FP32 run with the given flags (default: the 8-bit preset)."""
    key = (design, name)
    if key not in _made:
        out = root / f"{design}-{name}"
        _cli("quantize", str(fp32_run(root, design)), *(quant or PRESET_8BIT), "--quiet", "--out", str(out))
        _made[key] = out
    return _made[key]


def parse_example(output: str) -> tuple[list[dict], dict[str, int]]:
    """The example's image lines (fields and counts) and its summary line."""
    images, summary = [], None
    for line in output.splitlines():
        words = line.split()
        if words[:1] == ["image"]:
            at = words.index("counts")
            fields = {words[k]: int(words[k + 1]) for k in range(0, at, 2)}
            fields["counts"] = np.array([int(w) for w in words[at + 1:]], dtype=np.int64)
            images.append(fields)
        elif words[:1] == ["summary"]:
            summary = {words[k]: int(words[k + 1]) for k in range(1, len(words) - 1, 2)}
    assert summary is not None, f"no summary line in: {output[-300:]}"
    return images, summary
