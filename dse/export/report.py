"""`dse export --report`: measured flash and RAM of the Cortex-M build beside the cost model.

The cost model (dse/cost/memory.py) counts what the network needs; the
linker counts what the program stores. The parameters (input weights,
thresholds, inhibition strengths, neuron constants) are comparable one for
one; everything else the program holds (code, C library, the Poisson
generator's state, the stack) is listed per component so that the gap is
explained rather than fitted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from dse.cost.memory import memory_report
from dse.cost.quant import parse_precision

from . import sizes, toolchain
from .writer import EXPORT_INFO

# Components of the cost model that are parameters (read-only after training).
PARAMETER_COMPONENTS = ("input_weights", "lateral_weights", "exc_to_inh_weights", "inh_to_exc_weights",
                        "exc_thresholds", "neuron_parameters")
_SUMMARY = re.compile(r"^summary (.*)$", re.MULTILINE)


def parse_summary(output: str) -> dict[str, int]:
    """The example's last line, `summary images K correct C agree A ...`, as a dict."""
    found = _SUMMARY.findall(output)
    if not found:
        raise toolchain.ToolchainError("the example printed no summary line: " + output.strip()[-200:])
    words = found[-1].split()
    return {words[k]: int(words[k + 1]) for k in range(0, len(words) - 1, 2)}


def model_memory(design: str, neurons: int, spec: str) -> dict[str, dict[str, int]]:
    """Inference memory of the cost model, both accountings, split into parameters and state."""
    precision = parse_precision(spec)
    out: dict[str, dict[str, int]] = {}
    for accounting in ("minimal", "dense"):
        parts = memory_report(design, neurons, "inference", precision, accounting).by_name()
        params = sum(v for k, v in parts.items() if k in PARAMETER_COMPONENTS)
        out[accounting] = {"parameters": params, "state": sum(parts.values()) - params,
                           "total": sum(parts.values()), **{f"component:{k}": v for k, v in parts.items()}}
    return out


def size_report(export_dir: Path, core: str = "cortex-m4", *, run: bool = True) -> dict[str, Any]:
    """Cross-build the export, measure it (and its stack under QEMU when `run`), compare with the model."""
    export_dir = Path(export_dir)
    info = json.loads((export_dir / EXPORT_INFO).read_text())
    build = toolchain.build_cortex_m(export_dir, core)
    section = sizes.section_sizes(build.elf)
    parts = sizes.map_contributions(build.map_file)
    flash_parts = sizes.breakdown(parts, sizes.FLASH_SECTIONS)
    ram_parts = sizes.breakdown(parts, sizes.RAM_SECTIONS)
    stack, agree = None, None
    if run and toolchain.emulator_missing() is None:
        status, output = toolchain.run_qemu(build, timeout_s=600)
        summary = parse_summary(output)
        stack, agree = summary.get("stack_bytes"), (status == 0 and summary["agree"] == summary["images"])
    if stack is not None:
        ram_parts["stack (measured high-water mark)"] = stack
    measured_params = sum(v for k, v in flash_parts.items() if k.startswith("parameters:"))
    images = flash_parts.get("example: embedded test images", 0)
    model = model_memory(info["design"], info["neurons"], info["quantization"]["spec"])
    flash = sum(section.get(s, 0) for s in sizes.FLASH_SECTIONS)
    ram = sum(section.get(s, 0) for s in sizes.RAM_SECTIONS) + (stack or 0)
    return {
        "design": info["design"], "neurons": info["neurons"], "quantization": info["quantization"]["spec"],
        "core": core, "compiler_flags": " ".join((*toolchain.CORTEX_M_CFLAGS, *toolchain.CORES[core].arch_flags)),
        "sections": section, "flash_bytes": flash, "flash_without_test_images": flash - images,
        "ram_bytes": ram, "stack_bytes": stack, "qemu_agrees_with_engine": agree,
        "flash_components": flash_parts, "ram_components": ram_parts,
        "parameters_measured": measured_params,
        "parameters_model_minimal": model["minimal"]["parameters"],
        "parameters_model_dense": model["dense"]["parameters"],
        "parameters_difference": (measured_params - model["minimal"]["parameters"]) / model["minimal"]["parameters"],
        "model": model,
        "state_layout": sizes.state_layout(info["neurons"], _vmem_bytes(info), _layer(info)),
    }


def _vmem_bytes(info: dict[str, Any]) -> int:
    spec = info["quantization"].get("vmem")
    return 4 if not spec else parse_precision(f"vmem={spec}").vmem.storage_dtype.itemsize


def _layer(info: dict[str, Any]) -> bool:
    return info["design"] in ("baseline", "sl-stdp")


def render(report: dict[str, Any]) -> str:
    """Plain-text table of a size report."""
    r, m = report, report["model"]
    lines = [f"{r['design']} N={r['neurons']} {r['quantization']} on {r['core']} "
             f"(arm-none-eabi-gcc {r['compiler_flags']})",
             f"flash {r['flash_bytes']} B ({r['flash_without_test_images']} B without the example's test images); "
             f"RAM {r['ram_bytes']} B" + ("" if r["stack_bytes"] is not None else " + stack (not measured: no QEMU)"),
             f"parameters: measured {r['parameters_measured']} B, model minimal {r['parameters_model_minimal']} B "
             f"({100 * r['parameters_difference']:+.2f}%), model dense {r['parameters_model_dense']} B",
             f"model totals: minimal {m['minimal']['total']} B, dense {m['dense']['total']} B", "", "flash:"]
    lines += [f"  {v:>10}  {k}" for k, v in r["flash_components"].items()]
    lines += ["RAM:"] + [f"  {v:>10}  {k}" for k, v in r["ram_components"].items()]
    lines += ["snn_state fields:"] + [f"  {v:>10}  {k}" for k, v in r["state_layout"].items()]
    return "\n".join(lines)
