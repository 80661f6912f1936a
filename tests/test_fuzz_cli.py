"""Fuzzing the command line: exit 0 or 2, one line on stderr for 2, nothing written.

The property: see tests/fuzz_common.py.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, given, strategies as st

from dse.cli.main import main
from dse.models.recipes import _SCHEMA
from tests.fuzz_common import PROFILE_NAMES, CLI_FUZZ, numberish, quant_spec, no_breaks, space_text


# --------------------------------------------------------------------------- the CLI

_cli_text = st.text(max_size=20)


def _cli(argv: list[str]) -> tuple[int, str, str]:
    """Run `dse` in a fresh empty folder; the folder must still be empty afterwards."""
    out, err = io.StringIO(), io.StringIO()
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        assert not any(Path(folder).rglob("*")), sorted(str(p) for p in Path(folder).rglob("*"))
    stdout, stderr = out.getvalue(), err.getvalue()
    assert code in (0, 2), (code, stderr)
    assert "Traceback" not in stdout + stderr
    if code == 2:
        assert stderr.startswith("error: ") and stderr.count("\n") == 1 and stderr.endswith("\n"), stderr
        assert "\r" not in stderr
    else:
        assert stderr == "", stderr
    return code, stdout, stderr


@pytest.fixture(autouse=True)
def _no_outside_data(monkeypatch, tmp_path_factory):
    from dse.data import locate

    for var in ("DSE_DATA_DIR", "DSE_STORAGE"):
        monkeypatch.delenv(var, raising=False)
    nowhere = tmp_path_factory.getbasetemp() / "nowhere"
    monkeypatch.setattr(locate, "user_cache_dir", lambda: nowhere / "cache")
    monkeypatch.setattr(locate, "SYSTEM_DATA_ROOT", nowhere / "system")


@CLI_FUZZ
@given(budget=st.one_of(_cli_text, numberish), form=st.booleans())
def test_fuzz_cli_budget(budget, form):
    flag = [f"--budget-mb={budget}"] if form else ["--budget-mb", budget]
    code, out, _ = _cli(["explore", *flag, "--show-space"])
    if code == 0:
        assert "neurons" in out


@CLI_FUZZ
@given(item=st.one_of(
    no_breaks,
    # only dimensions whose every valid value is cheap to show (a fine neurons or rho grid is not: handed over)
    st.builds(lambda n, t: f"{n}={t}",
              st.sampled_from(["design", "weights_bits", "inh_bits", "vmem_bits", "vth_bits", "scheme", "rounding"]),
              st.one_of(space_text, numberish))))
def test_fuzz_cli_space(item):
    assume("\n" not in item and "\r" not in item)
    _cli(["explore", "--space", item, "--show-space", "--budget-mb", "1"])


@CLI_FUZZ
@given(text=no_breaks)
def test_fuzz_cli_fidelities(text):
    assume("\n" not in text and "\r" not in text)
    _cli(["explore", "--fidelities", text, "--budget-mb", "1", "--show-space"])


@CLI_FUZZ
@given(profile=st.one_of(_cli_text, st.sampled_from([*PROFILE_NAMES, "CPU", "cpu.toml", "./cpu.toml", ".", "..", ""])))
def test_fuzz_cli_cost_profile(profile):
    assume(not profile.startswith(("/", "~")))  # only names and paths inside the empty folder
    code, out, _ = _cli(["cost", "--design", "fspinn", "--neurons", "100", "--profile", profile, "--json"])
    assert code == 2 or '"design": "fspinn"' in out


@CLI_FUZZ
@given(neurons=st.one_of(numberish, _cli_text), quant=st.one_of(quant_spec, _cli_text))
def test_fuzz_cli_cost_numbers_and_precision(neurons, quant):
    _cli(["cost", "--design", "baseline", "--neurons", neurons, "--quant", quant, "--json"])


# The commands below would train or measure on valid input; a --data-dir that does not
# exist makes every input fail, so the property is: rejected (2) before any work, in one line.
NO_DATA = ["--data-dir", "no-data-here"]


@CLI_FUZZ
@given(neurons=st.one_of(numberish, _cli_text), quant=st.one_of(quant_spec, _cli_text),
       override=st.one_of(st.builds(lambda s, k, v: f"{s}.{k}={v}", st.sampled_from(list(_SCHEMA)),
                                    st.sampled_from(sorted({k for s in _SCHEMA.values() for k in s})), numberish),
                          _cli_text),
       seed=st.one_of(numberish, _cli_text))
def test_fuzz_cli_train_rejects_before_any_work(neurons, quant, override, seed):
    code, _, _ = _cli(["train", "--neurons", neurons, "--quant", quant, "--set", override, "--seed", seed,
                       "--out", "run", *NO_DATA])
    assert code == 2


@CLI_FUZZ
@given(bits=st.lists(st.one_of(numberish, _cli_text), min_size=1, max_size=3), neurons=numberish)
def test_fuzz_cli_sweep_bits_rejects_before_any_work(bits, neurons):
    code, _, _ = _cli(["sweep-bits", "--designs", "fspinn", "--neurons", neurons, "--bits", *bits, "--out", "s",
                       *NO_DATA])
    assert code == 2


@CLI_FUZZ
@given(sizes=st.lists(st.one_of(numberish, _cli_text), min_size=1, max_size=3),
       quant=st.one_of(quant_spec, _cli_text), images=numberish)
def test_fuzz_cli_measure_rejects_before_any_work(sizes, quant, images):
    code, _, _ = _cli(["measure", "--sizes", *sizes, "--quant", quant, "--images", images, "--repeats", "1",
                       "--out", "m", *NO_DATA])
    assert code == 2


@CLI_FUZZ
@given(neurons=numberish, images=numberish)
def test_fuzz_cli_bench_rejects_before_any_work(neurons, images):
    code, _, _ = _cli(["bench", "--neurons", neurons, "--images", images, *NO_DATA])
    assert code == 2
