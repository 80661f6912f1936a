"""Energy of a timed region: the counters this machine has, and the meter that reads the best one.

Energy comes from the best counter that covers the device doing the work:

* the NVML total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``,
  millijoules since the driver loaded) when the phase runs on an NVIDIA GPU;
* RAPL package energy through powercap (``/sys/class/powercap/intel-rapl:0``)
  when it is readable -- it covers the whole package, other processes
  included, and is labelled so;
* otherwise wall time x a modelled power (the profile's static power plus its
  dynamic share in proportion to the cores kept busy), labelled
  ``modelled power x measured time``.

The NVML module and the powercap root are parameters, so tests drive both
paths with a fake library object and a fake sysfs tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["POWERCAP_ROOT", "RAPL_DOMAIN", "NO_NVIDIA", "EnergySample", "NvmlCounter", "RaplCounter", "Meter",
           "NvmlMeter", "RaplMeter", "ModelledPowerMeter", "choose_meter", "one_line"]

POWERCAP_ROOT = Path("/sys/class/powercap")
RAPL_DOMAIN = "intel-rapl:0"
NO_NVIDIA = "no NVIDIA device (NVML unavailable)"


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (its type name when it has none)."""
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


@dataclass(frozen=True)
class EnergySample:
    energy_j: float
    label: str
    source: str  # "nvml" | "rapl" | "modelled"


# --------------------------------------------------------------------------- counters


class NvmlCounter:
    """The total-energy counter of one NVIDIA GPU through NVML (pynvml), or the reason there is none."""

    def __init__(self, nvml: Any = None, index: int = 0) -> None:
        self.handle = None
        self.name = ""
        self.note = NO_NVIDIA
        self._nvml = nvml
        try:
            if self._nvml is None:
                import pynvml as nvml_module

                self._nvml = nvml_module
            self._nvml.nvmlInit()
        except Exception as exc:  # noqa: BLE001 - any NVML failure means "no usable device"
            self.note = f"{NO_NVIDIA}: {one_line(exc)}"
            self._nvml = None
            return
        try:
            if self._nvml.nvmlDeviceGetCount() <= index:
                self.note = f"{NO_NVIDIA}: no GPU with index {index}"
                return
            self.handle = self._nvml.nvmlDeviceGetHandleByIndex(index)
            name = self._nvml.nvmlDeviceGetName(self.handle)
            self.name = name.decode() if isinstance(name, bytes) else str(name)
            self._nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)  # supported? (Volta and newer)
            self.note = f"NVML energy counter on {self.name}"
        except Exception as exc:  # noqa: BLE001
            self.note = f"NVML present but no energy counter ({one_line(exc)})"
            self.handle = None

    @property
    def available(self) -> bool:
        return self.handle is not None

    def read_j(self) -> float:
        return float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)) / 1000.0  # mJ -> J

    def close(self) -> None:
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001 - shutting down a half-initialised library is best effort
                pass


class RaplCounter:
    """RAPL package energy (microjoules, wrapping at max_energy_range_uj) through powercap sysfs."""

    def __init__(self, root: Path = POWERCAP_ROOT, domain: str = RAPL_DOMAIN) -> None:
        self.dir = Path(root) / domain
        self.range_uj: int | None = None
        try:
            self.read_uj()
            self.range_uj = int((self.dir / "max_energy_range_uj").read_text().strip())
            self.note = f"RAPL package energy counter ({self.dir})"
        except (OSError, ValueError) as exc:
            self.note = f"RAPL not readable ({one_line(exc)})"

    @property
    def available(self) -> bool:
        return self.range_uj is not None

    def read_uj(self) -> int:
        return int((self.dir / "energy_uj").read_text().strip())

    def delta_j(self, start_uj: int, end_uj: int) -> float:
        """Energy between two readings; the counter wraps to zero after max_energy_range_uj."""
        diff = end_uj - start_uj
        if diff < 0:
            diff += (self.range_uj or 0) + 1
        return diff / 1e6


# --------------------------------------------------------------------------- meters


class Meter:
    """Brackets a timed region: start() before, stop(token, wall_s, cpu_s) after."""

    def start(self) -> Any:
        return None

    def stop(self, token: Any, wall_s: float, cpu_s: float) -> EnergySample:  # pragma: no cover - interface
        raise NotImplementedError


class NvmlMeter(Meter):
    def __init__(self, counter: NvmlCounter) -> None:
        self.counter = counter

    def start(self) -> float:
        return self.counter.read_j()

    def stop(self, token: float, wall_s: float, cpu_s: float) -> EnergySample:
        return EnergySample(self.counter.read_j() - token,
                            f"measured (NVML energy counter on {self.counter.name})", "nvml")


class RaplMeter(Meter):
    def __init__(self, counter: RaplCounter, cpu: str) -> None:
        self.counter, self.cpu = counter, cpu

    def start(self) -> int:
        return self.counter.read_uj()

    def stop(self, token: int, wall_s: float, cpu_s: float) -> EnergySample:
        return EnergySample(self.counter.delta_j(token, self.counter.read_uj()),
                            f"measured (RAPL package energy counter on {self.cpu}; whole package)", "rapl")


class ModelledPowerMeter(Meter):
    """Wall time x modelled power: static power plus the dynamic share of the busy cores."""

    def __init__(self, profile: Any, cores: int) -> None:
        self.profile, self.cores = profile, max(cores, 1)

    def power_w(self, wall_s: float, cpu_s: float) -> float:
        static = self.profile.coefficients.static_power_w
        board = self.profile.specs.board_power_w
        busy = min(1.0, cpu_s / (wall_s * self.cores)) if wall_s > 0 else 0.0
        return static + max(board - static, 0.0) * busy

    def stop(self, token: Any, wall_s: float, cpu_s: float) -> EnergySample:
        p = self.profile
        return EnergySample(wall_s * self.power_w(wall_s, cpu_s),
                            f"modelled power x measured time (profile {p.name}: {p.coefficients.static_power_w:g} W "
                            f"static to {p.specs.board_power_w:g} W with all cores busy)", "modelled")


def choose_meter(on_gpu: bool, nvml: NvmlCounter | None, rapl: RaplCounter | None, profile: Any,
                 cpu: str, cores: int) -> Meter:
    if on_gpu and nvml is not None and nvml.available:
        return NvmlMeter(nvml)
    if not on_gpu and rapl is not None and rapl.available:
        return RaplMeter(rapl, cpu)
    return ModelledPowerMeter(profile, cores)
