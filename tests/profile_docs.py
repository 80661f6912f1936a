"""The bundled hardware profiles as the tests see them: their names, their folder, a parsed document."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

__all__ = ["EXPECTED_NAMES", "REPO_PROFILES", "CALIBRATION", "bundled_doc"]

EXPECTED_NAMES = [
    "a100",
    "cpu",
    "gtx1060",
    "gtx1080ti",
    "h100",
    "jetson-nano",
    "jetson-tx2",
    "orin-nano",
    "rtx2080ti",
    "xavier-nx",
]
REPO_PROFILES = Path(__file__).resolve().parents[1] / "hw_profiles"


def bundled_doc(name: str) -> dict[str, Any]:
    return tomllib.loads((REPO_PROFILES / f"{name}.toml").read_text(encoding="utf-8"))


# The smallest valid [calibration] table.
CALIBRATION = {"base_profile": "gtx1060", "fit_date": "2025-01-31", "measurement_files": ["runs/a.json"]}
