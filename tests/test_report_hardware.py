"""`dse compare-hw --html`: the figure's legend matches its panels, the units match the terminal, log axes label decades."""

from __future__ import annotations

import math
import re

import pytest

from dse.cli.main import main
from dse.cost.compare import compare_hw
from dse.cost.profiles import load_profile
from dse.cost.quant import parse_precision
from dse.report.hardware import hw_figure, hw_html
from dse.report.units import log_axis, si


@pytest.fixture(scope="module")
def rows():
    profiles = [load_profile(n) for n in ("cpu", "jetson-nano", "a100")]
    return compare_hw("fspinn", 900, profiles, precision=parse_precision("8bit"),
                      vs=("baseline", parse_precision("fp32")))


def test_si_prefixes_and_log_ticks():
    assert [si(x, "J") for x in (0.00432, 71_000.0, 1.0, 0.0, 2.5e-7)] == ["4.32 mJ", "71 kJ", "1 J", "0 J", "250 nJ"]
    decades = log_axis([0.006, 1.3, None])
    assert decades["ticktext"] == ["0.001", "0.01", "0.1", "1", "10"]
    assert log_axis([0.3, 0.9])["ticktext"] == ["0.1", "0.2", "0.5", "1"]  # within a decade: 1-2-5
    # 1.9 to 76 ms: of the decades only 10 lies in view, so 1-2-5 (one label alone does not read as a scale)
    assert log_axis([1.86, 75.9])["ticktext"] == ["1", "2", "5", "10", "20", "50", "100"]
    assert log_axis([]) == {"type": "log"}


def test_every_legend_entry_has_bars_in_both_panels(rows):
    fig = hw_figure(rows, "t", "fspinn 8bit", "baseline fp32")
    names = {t.name for t in fig.data if t.showlegend is not False}
    assert names == {"fspinn 8bit training", "fspinn 8bit inference", "baseline fp32 training",
                     "baseline fp32 inference"}
    for name in names:
        axes = {t.xaxis for t in fig.data if t.name == name}
        assert axes == {"x", "x2"}, name
    assert sum(t.showlegend is not False for t in fig.data) == len(names)  # one entry each


def test_figure_units_are_mj_and_ms_and_the_other_design_scales_by_its_ratios(rows):
    fig = hw_figure(rows, "t", "fspinn 8bit", "baseline fp32")
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["energy per image (mJ)", "time per image (ms)"]
    by = {(t.name, t.xaxis): list(t.y) for t in fig.data}
    jetson = [r.profile for r in rows].index("jetson-nano")
    r = rows[jetson]
    assert by[("fspinn 8bit training", "x")][jetson] == pytest.approx(1e3 * r.energy_j["training_per_image"])
    assert by[("fspinn 8bit inference", "x2")][jetson] == pytest.approx(1e3 * r.time_s["inference_per_image"])
    assert by[("baseline fp32 training", "x2")][jetson] == pytest.approx(
        1e3 * r.time_s["training_per_image"] * r.time_ratio["training"])
    assert r.time_ratio["training"] > 1  # the FP32 baseline is slower in this model
    for axis in (fig.layout.yaxis, fig.layout.yaxis2):
        assert axis.type == "log"
        assert all(math.log10(v) == round(math.log10(v)) for v in axis.tickvals)  # decades only


def test_page_table_says_what_the_terminal_says(rows, tmp_path, capsys):
    page = hw_html(rows, "t", "fspinn 8bit", "baseline fp32")
    cells = re.findall(r"<td>([^<]*)</td>", page)
    a100 = next(r for r in rows if r.profile == "a100")
    assert si(a100.energy_j["training_per_epoch"], "J") in cells and "kJ" in si(a100.energy_j["training_per_epoch"], "J")
    assert "<th>train energy/img</th>" in page and "J/img" not in page and "s/img" not in page
    code = main(["compare-hw", "--design", "fspinn", "--neurons", "900", "--quant", "8bit", "--profiles",
                 "cpu,jetson-nano,a100", "--vs-design", "baseline"])
    out = capsys.readouterr().out
    assert code == 0
    jetson = next(r for r in rows if r.profile == "jetson-nano")
    line = next(line for line in out.splitlines() if "jetson-nano" in line)
    for text in (si(jetson.time_s["training_per_image"], "s"), si(jetson.energy_j["inference_per_image"], "J")):
        assert text in line and text in cells
