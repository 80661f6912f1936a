"""Measured memory of a Cortex-M build: section sizes (arm-none-eabi-size) and who fills them (the map file).

Flash is what the image stores: .vectors + .text + .rodata + .data (its
initial values); RAM is .data + .bss + the stack actually used (painted at
reset, measured at exit under QEMU). The linker's map file says which object
and which input section each byte comes from, so the totals split into the
network's parameters, the inference code, the C library and the example.
"""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

FLASH_SECTIONS = (".vectors", ".text", ".rodata", ".ARM.exidx", ".data")
RAM_SECTIONS = (".data", ".bss")
_ALLOCATED = (*FLASH_SECTIONS, ".bss", ".stack")

_OUTPUT = re.compile(r"^(\.[\w.]+)(?:\s+0x([0-9a-f]+)\s+0x([0-9a-f]+).*)?$")
_INPUT = re.compile(r"^ (\S+)(?:\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s*(.*))?$")
_CONTINUATION = re.compile(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s*(.*)$")


@dataclass(frozen=True)
class Contribution:
    """One input section placed by the linker."""

    output: str     # .text, .rodata, ...
    section: str    # input section name, e.g. .rodata.snn_weights; *fill* for alignment
    size: int
    origin: str     # object file (basename) or archive(member), '' for fill


def section_sizes(elf: Path) -> dict[str, int]:
    """Allocated section sizes from `arm-none-eabi-size -A`."""
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    sizes: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in _ALLOCATED and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def _origin(path: str) -> str:
    path = path.strip()
    if "(" in path:  # /usr/lib/.../libm.a(lib_a-e_log.o)
        archive, member = path.split("(", 1)
        return f"{Path(archive).name}({member}"
    return Path(path).name if path else ""


def map_contributions(map_file: Path) -> list[Contribution]:
    """Input sections of the allocated output sections, from a GNU ld map file.

    Sizes are taken from the addresses where they disagree with the listed size:
    merged string sections (-fdata-sections) list the merged size on every member.
    """
    lines = Path(map_file).read_text().splitlines()
    try:
        start = lines.index("Linker script and memory map")
    except ValueError:
        raise ValueError(f"{map_file}: not a GNU ld map file (no memory map)") from None
    placed: list[tuple[str, str, int, int, str]] = []   # output, section, address, size, origin
    ends: dict[str, int] = {}
    output, pending = None, None
    for line in lines[start + 1:]:
        head = _OUTPUT.match(line)
        if head and not line.startswith(" "):
            output, pending = (head.group(1) if head.group(1) in _ALLOCATED else None), None
            if output and head.group(2):
                ends[output] = int(head.group(2), 16) + int(head.group(3), 16)
            continue
        if output is None:
            continue
        if pending is not None:
            cont = _CONTINUATION.match(line)
            if cont:
                placed.append((output, pending, int(cont.group(1), 16), int(cont.group(2), 16),
                               _origin(cont.group(3))))
            pending = None
            continue
        item = _INPUT.match(line)
        if not item or item.group(1).startswith("*("):
            continue
        if item.group(2) is None:
            pending = item.group(1)  # long name: address, size and file follow on the next line
        else:
            placed.append((output, item.group(1), int(item.group(2), 16), int(item.group(3), 16),
                           _origin(item.group(4) or "")))
    return _clip_to_addresses(placed, ends)


def _clip_to_addresses(placed: list[tuple[str, str, int, int, str]], ends: dict[str, int]) -> list[Contribution]:
    found = []
    for k, (output, section, address, size, origin) in enumerate(placed):
        following = [a for o, _, a, _, _ in placed[k + 1:] if o == output and a >= address]
        limit = min(following) if following else ends.get(output, address + size)
        found.append(Contribution(output, section, max(0, min(size, limit - address)), origin))
    return found


# What each measured byte is, for the tables: (predicate on a contribution) -> component.
def component_of(c: Contribution) -> str:
    name, origin = c.section, c.origin
    if name == "*fill*":
        return "alignment padding"
    if name.endswith(("snn_weights", "snn_thresholds")):
        return "parameters: " + name.rsplit(".", 1)[-1]
    if name.endswith(("snn_labels", "snn_class_sizes")):
        return "neuron labels and class sizes"
    if name.endswith(("snn_images", "snn_image_labels", "snn_engine_predictions", "snn_engine_count_hashes")):
        return "example: embedded test images"
    if origin == "snn.o":
        return "inference code (snn.c)" if c.output != ".bss" else "inference state"
    if origin.startswith("libm"):
        return "C library: libm (log, log1p, floor)"
    if origin.startswith("libgcc"):
        return "C library: libgcc (double-precision arithmetic in software)"
    if origin.startswith("libc"):
        return "C library: libc (memset, memcpy, errno)"
    if name == ".bss.state":
        return "snn_state (neuron and input state)"
    if name == ".bss.counts":
        return "spike counts (output)"
    return "example: main, startup, semihosting"


def breakdown(contributions: list[Contribution], sections: tuple[str, ...]) -> dict[str, int]:
    """Bytes per component over the given output sections."""
    totals: dict[str, int] = defaultdict(int)
    for c in contributions:
        if c.output in sections:
            totals[component_of(c)] += c.size
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def state_layout(n: int, vmem_bytes: int, inhibitory_layer: bool, drive_bytes: int = 4) -> dict[str, int]:
    """Bytes of each snn_state field group (snn.h), without alignment padding."""
    layout = {
        "V (membrane potentials)": n * vmem_bytes,
        "g_e and g_i (float32)": 2 * 4 * n,
        "refractory counters and spike flags (uint8)": 2 * n,
        "input drive of the step (int32)": drive_bytes * n,
        "Poisson plan: next spike step and next draw per input": 784 * (2 + 4),
        "log(1 - p) per pixel value (double)": 256 * 8,
        "stream keys and near-tie counter": 4 * 8 + 4,
    }
    if inhibitory_layer:
        layout["inhibitory layer: V, g_e (float32), counters, flags"] = n * (4 + 4 + 1 + 1)
    return layout


def symbol_size(contributions: list[Contribution], section: str) -> int:
    return sum(c.size for c in contributions if c.section == section)
