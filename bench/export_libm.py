"""How often the Cortex-M C library's log/log1p differ from glibc's (the engine's), measured under QEMU.

    python bench/export_libm.py [--draws 20000] [--work reports/export-bench/libm]

The exported C samples spike gaps as floor(log(u) / log(1 - p)) like the
engine, whose log and log1p are the host's glibc. newlib on a Cortex-M4
(single-precision FPU) uses fdlibm's log, on a Cortex-M7 (double-precision
FPU) Arm's optimized-routines log. This script takes the first --draws
uniforms u of a Poisson stream and every p the input layer can use (255 pixel
levels x 6 presentation rates), computes log(u) and log1p(-p) here (Python's
math module calls glibc), and has each core recompute them under QEMU and
count the results that differ and by how many units in the last place. A gap
changes only if log(u) / log(1 - p) lies within those few ulps of a whole
number, which snn.c counts (near_ties).
"""

from __future__ import annotations

import argparse
import math
import struct
import sys
from pathlib import Path

from dse.export import toolchain
from dse.models.recipes import load_recipe

MAIN = r"""
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "../snn_port.h"
#include "cases.h"

static uint64_t bits(double x) { uint64_t b; memcpy(&b, &x, sizeof b); return b; }
static uint64_t ulps(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

static void put_count(const char *name, unsigned long v)
{
    char text[32]; int n = 0; char digits[24];
    do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    port_write(" "); port_write(name); port_write(" ");
    { int k = 0; while (n) text[k++] = digits[--n]; text[k] = 0; }
    port_write(text);
}

int main(void)
{
    unsigned long log_diff = 0, log_max = 0, log1p_diff = 0, log1p_max = 0;
    int k;
    for (k = 0; k < N_DRAWS; ++k) {
        uint64_t d = ulps(bits(log(draw_u[k])), draw_log[k]);
        log_diff += d != 0; log_max = d > log_max ? d : log_max;
    }
    for (k = 0; k < N_P; ++k) {
        uint64_t d = ulps(bits(log1p(-p_value[k])), p_log1p[k]);
        log1p_diff += d != 0; log1p_max = d > log1p_max ? d : log1p_max;
    }
    port_write("libm");
    put_count("draws", N_DRAWS); put_count("log_differs", log_diff); put_count("log_max_ulps", log_max);
    put_count("p_values", N_P); put_count("log1p_differs", log1p_diff); put_count("log1p_max_ulps", log1p_max);
    port_write("\n");
    return 0;
}
"""


def _splitmix_uniforms(count: int, seed: int = 12345) -> list[float]:
    mask = (1 << 64) - 1
    state, out = seed, []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        out.append(((z >> 11) + 1) * 2.0 ** -53)
    return out


def _bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def cases_header(draws: int) -> str:
    r = load_recipe("fspinn")
    rate = r.get("input", "f_max_hz") * r.get("input", "dt_ms") / 1000.0
    boost = r.get("input", "rate_boost_hz") * r.get("input", "dt_ms") / 1000.0
    ps = [level * ((rate + rep * boost) / 255.0) for rep in range(r.get("input", "max_representations") + 1)
          for level in range(1, 256)]
    us = _splitmix_uniforms(draws)
    return "\n".join([
        f"#define N_DRAWS {len(us)}", f"#define N_P {len(ps)}",
        "static const double draw_u[] = {" + ",".join(u.hex() for u in us) + "};",
        "static const uint64_t draw_log[] = {" + ",".join(f"{_bits(math.log(u))}u" for u in us) + "};",
        "static const double p_value[] = {" + ",".join(p.hex() for p in ps) + "};",
        "static const uint64_t p_log1p[] = {" + ",".join(f"{_bits(math.log1p(-p))}u" for p in ps) + "};", ""])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=20000)
    ap.add_argument("--work", default="reports/export-bench/libm")
    args = ap.parse_args(argv)
    missing = toolchain.cross_toolchain_missing() or toolchain.emulator_missing()
    if missing:
        print(f"skipped: {missing}")
        return 0
    work = Path(args.work).resolve()
    (work / "libm").mkdir(parents=True, exist_ok=True)
    for name in ("cortex_m/startup.c", "cortex_m/port_semihost.c", "cortex_m/mps2.ld", "snn_port.h"):
        src = Path(toolchain.__file__).parent / "c" / name
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(src.read_bytes())
    (work / "libm" / "cases.h").write_text(cases_header(args.draws))
    (work / "libm" / "main.c").write_text(MAIN)
    for core in ("cortex-m4", "cortex-m7"):
        spec = toolchain.CORES[core]
        elf = work / f"libm-{core}.elf"
        toolchain.run_compiler(["arm-none-eabi-gcc", "-std=c99", "-O2", "-ffp-contract=off", *spec.arch_flags,
                            *toolchain.CORTEX_M_LDFLAGS, "-o", str(elf), "libm/main.c", "cortex_m/startup.c",
                            "cortex_m/port_semihost.c", "-lm"], work)
        build = toolchain.CrossBuild(elf=elf, map_file=elf, build_dir=work, core=spec)
        status, output = toolchain.run_qemu(build, timeout_s=600)
        print(core, output.strip().splitlines()[-1] if output.strip() else f"(no output, status {status})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
