"""Build and run an export: the host C compiler, and arm-none-eabi-gcc + qemu-system-arm.

The compiler flags live here once; the Makefile written into every export is
generated from them, so `make` and the tests build the same thing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# -ffp-contract=off: no fused multiply-add, which would round once where the
# engine rounds twice. No -ffast-math, ever.
WARNINGS = ("-Wall", "-Wextra", "-Werror")
HOST_CFLAGS = ("-std=c99", "-pedantic", *WARNINGS, "-ffp-contract=off")
# For speed: -O3 vectorises the neuron loop once -fno-trapping-math lets the
# compiler evaluate both sides of a select. It changes no value (only whether
# floating-point exception flags may be raised), so the output stays exact (tested).
FAST_FLAGS = ("-O3", "-fno-trapping-math")
# The faster input generator: a bit raster of the presentation's input spikes (34 kB; snn.h).
RASTER_FLAGS = ("-DSNN_INPUT_RASTER=1",)
HOST_SOURCES = ("main.c", "snn.c", "port_host.c")
BENCH_SOURCES = ("bench.c", "snn.c")
CORTEX_M_SOURCES = ("main.c", "snn.c", "cortex_m/startup.c", "cortex_m/port_semihost.c")


@dataclass(frozen=True)
class CortexM:
    """A Cortex-M core, its compiler flags and the QEMU board that runs it."""

    name: str
    arch_flags: tuple[str, ...]
    machine: str


CORES = {
    "cortex-m4": CortexM("cortex-m4", ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
                         "mps2-an386"),
    "cortex-m7": CortexM("cortex-m7", ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"),
                         "mps2-an500"),
}
CORTEX_M_CFLAGS = ("-std=c99", *WARNINGS, "-ffp-contract=off", "-ffunction-sections", "-fdata-sections")
CORTEX_M_LDFLAGS = ("-nostartfiles", "--specs=nano.specs", "-Tcortex_m/mps2.ld", "-Wl,--gc-sections")
APT_PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"


class ToolchainError(RuntimeError):
    """A compiler or emulator is missing or failed; the message says which and why."""


@dataclass(frozen=True)
class CrossBuild:
    elf: Path
    map_file: Path
    build_dir: Path
    core: CortexM


def host_compiler() -> str:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    raise ToolchainError("no host C compiler (cc, gcc or clang) on PATH")


def cross_toolchain_missing(core: str = "cortex-m4") -> str | None:
    """Why the Cortex-M build cannot run here, or None when it can."""
    if shutil.which("arm-none-eabi-gcc") is None:
        return f"arm-none-eabi-gcc is not installed (Debian: apt-get install {APT_PACKAGES})"
    libc = subprocess.run(["arm-none-eabi-gcc", *CORES[core].arch_flags, "-print-file-name=libc_nano.a"],
                          capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(libc) or not os.path.exists(libc):
        return f"newlib for {core} is not installed (Debian: apt-get install libnewlib-arm-none-eabi)"
    return None


def emulator_missing() -> str | None:
    if shutil.which("qemu-system-arm") is None:
        return "qemu-system-arm is not installed (Debian: apt-get install qemu-system-arm)"
    return None


def run_compiler(command: list[str], cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise ToolchainError(f"{' '.join(command[:1])} failed in {cwd}: " + " | ".join(detail[:6]))


def build_host(export_dir: Path, *, opt: str | tuple[str, ...] = "-O2", bench: bool = False,
               extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile the example (or bench.c) with the host compiler; returns the executable.

    opt: one flag or several, e.g. FAST_FLAGS.
    """
    export_dir = Path(export_dir).resolve()
    out = export_dir / "build" / "host"
    out.mkdir(parents=True, exist_ok=True)
    exe = out / ("snn_bench" if bench else "snn_example")
    sources = BENCH_SOURCES if bench else HOST_SOURCES
    opts = (opt,) if isinstance(opt, str) else tuple(opt)
    run_compiler([host_compiler(), *HOST_CFLAGS, *opts, *extra_flags, "-o", str(exe), *sources, "-lm"], export_dir)
    return exe


def build_cortex_m(export_dir: Path, core: str = "cortex-m4", *, opt: str = "-O2",
                   extra_flags: tuple[str, ...] = ()) -> CrossBuild:
    """Cross-compile the example for a Cortex-M with newlib (nano); returns the ELF and its map."""
    missing = cross_toolchain_missing(core)
    if missing:
        raise ToolchainError(missing)
    export_dir = Path(export_dir).resolve()
    spec = CORES[core]
    out = export_dir / "build" / core
    out.mkdir(parents=True, exist_ok=True)
    elf, map_file = out / "snn_example.elf", out / "snn_example.map"
    # Compile one object at a time into the build folder so the map file names
    # each object (and -fstack-usage writes its .su file beside it).
    objects = []
    for source in CORTEX_M_SOURCES:
        obj = out / (Path(source).stem + ".o")
        run_compiler(["arm-none-eabi-gcc", *CORTEX_M_CFLAGS, *spec.arch_flags, opt, *extra_flags, "-fstack-usage", "-c", "-o", str(obj), source],
                 export_dir)
        objects.append(str(obj))
    run_compiler(["arm-none-eabi-gcc", *spec.arch_flags, *CORTEX_M_LDFLAGS, f"-Wl,-Map={map_file}", "-o", str(elf),
              *objects, "-lm"], export_dir)
    return CrossBuild(elf=elf, map_file=map_file, build_dir=out, core=spec)


def run_program(command: list[str], timeout_s: float) -> tuple[int, str]:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"{Path(command[0]).name} did not finish within {timeout_s:g} s") from None
    return done.returncode, done.stdout + done.stderr


def run_qemu(build: CrossBuild, timeout_s: float = 120.0) -> tuple[int, str]:
    """Run the ELF on QEMU's MPS2 board with semihosting; returns (exit status, output)."""
    missing = emulator_missing()
    if missing:
        raise ToolchainError(missing)
    return run_program(["qemu-system-arm", "-M", build.core.machine, "-nographic", "-monitor", "none",
                        "-serial", "none", "-semihosting-config", "enable=on,target=native",
                        "-kernel", str(build.elf)], timeout_s)


def makefile() -> str:
    """The export's Makefile: the same flags as the Python helpers above."""
    m4 = CORES["cortex-m4"]
    return "\n".join([
        "# Generated by `dse export` (flags as dse/export/toolchain.py).",
        "#   make          host example: build/host/snn_example, then run it",
        "#   make bench    host throughput (images/s, " + " ".join((*FAST_FLAGS, *RASTER_FLAGS)) + ")",
        "#   make m4       Cortex-M4 image for QEMU's MPS2-AN386: build/cortex-m4/snn_example.elf",
        "#   make qemu     run that image under qemu-system-arm (semihosting prints the results)",
        "CC ?= cc",
        f"CFLAGS ?= {' '.join(HOST_CFLAGS)} -O2",
        f"ARM_CFLAGS = {' '.join(CORTEX_M_CFLAGS)} {' '.join(m4.arch_flags)} -O2",
        f"ARM_LDFLAGS = {' '.join(m4.arch_flags)} {' '.join(CORTEX_M_LDFLAGS)}",
        "",
        ".PHONY: run bench m4 qemu clean",
        "run: build/host/snn_example",
        "\t./build/host/snn_example",
        "build/host/snn_example: " + " ".join(HOST_SOURCES) + " snn.h snn_model.h snn_images.h snn_port.h",
        "\tmkdir -p build/host",
        "\t$(CC) $(CFLAGS) -o $@ " + " ".join(HOST_SOURCES) + " -lm",
        "bench: " + " ".join(BENCH_SOURCES) + " snn.h snn_model.h snn_images.h",
        "\tmkdir -p build/host",
        f"\t$(CC) {' '.join(HOST_CFLAGS)} {' '.join((*FAST_FLAGS, *RASTER_FLAGS))} -o build/host/snn_bench "
        + " ".join(BENCH_SOURCES) + " -lm",
        "\t./build/host/snn_bench",
        "m4: build/cortex-m4/snn_example.elf",
        "build/cortex-m4/snn_example.elf: " + " ".join(CORTEX_M_SOURCES) + " cortex_m/mps2.ld snn.h snn_model.h",
        "\tmkdir -p build/cortex-m4",
        "\tarm-none-eabi-gcc $(ARM_CFLAGS) $(ARM_LDFLAGS) -Wl,-Map=build/cortex-m4/snn_example.map -o $@ "
        + " ".join(CORTEX_M_SOURCES) + " -lm",
        "\tarm-none-eabi-size -A $@",
        "qemu: build/cortex-m4/snn_example.elf",
        f"\tqemu-system-arm -M {m4.machine} -nographic -monitor none -serial none "
        "-semihosting-config enable=on,target=native -kernel $<",
        "clean:",
        "\trm -rf build",
        "",
    ])
