"""Issue #11, F8: the smaller ones, each through the CLI.

The explore seed and the sampler's 32-bit range; a profile number that
overflows the cost model; two profiles under one name; a bad --set value
blamed on the recipe file; `dse report` leaving an empty database behind;
`data fetch` printing blank lines and keeping private file modes; numpy
warnings of calibrate on stderr.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from tests.damaged_runs import assert_one_line_exit_2, run_cli, write_tiny_data

REPO = Path(__file__).resolve().parents[1]
SYN = ["--budget-mb", "1", "--evaluator", "synthetic", "--quiet", "--space", "design=fspinn",
       "--space", "neurons=100..300", "--fidelities", "1", "--trials", "1"]


@pytest.fixture()
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DSE_STORAGE", raising=False)
    return tmp_path


# --------------------------------------------------------------------------- the explore seed


def test_explore_refuses_a_seed_beyond_the_samplers_range_naming_the_flag(cwd, capsys):
    assert_one_line_exit_2(*run_cli(capsys, ["explore", *SYN, "--seed", str(2**63 - 1)]), "--seed", "2**32-1")
    assert not (cwd / "reports").exists()


def test_explore_takes_the_largest_seed_of_the_samplers_range(cwd, capsys):
    code, _, err = run_cli(capsys, ["explore", *SYN, "--seed", str(2**32 - 1)])
    assert code == 0, err


# --------------------------------------------------------------------------- profiles


def _cpu_profile(folder: Path, name: str = "cpu", coefficient: str | None = None) -> Path:
    """The bundled cpu profile under another name, with ``coefficients.energy_per_synaptic_event_pj`` set."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (REPO / "hw_profiles" / "cpu.toml").read_text()
    lines = [f'name = "{name}"' if line.startswith("name = ") else line for line in text.splitlines()]
    if coefficient is not None:
        table = lines.index("[coefficients]")
        key = next(k for k in range(table, len(lines)) if lines[k].startswith("energy_per_synaptic_event_pj = "))
        lines[key] = f"energy_per_synaptic_event_pj = {coefficient}"
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_profile_number_that_would_overflow_is_refused_naming_its_key(tmp_path, capsys):
    huge = _cpu_profile(tmp_path / "p", "huge", "1e308")
    code, out, err = run_cli(capsys, ["cost", "--design", "fspinn", "--neurons", "100", "--profile", huge, "--json"])
    assert "Infinity" not in out
    assert_one_line_exit_2(code, out, err, str(huge), "coefficients.energy_per_synaptic_event_pj")


def test_cost_json_is_always_valid_json(tmp_path, capsys):
    big = _cpu_profile(tmp_path / "p", "big", "1e29")
    code, out, err = run_cli(capsys, ["cost", "--design", "fspinn", "--neurons", "100", "--profile", big, "--json"])
    assert code == 0, err
    json.loads(out, parse_constant=lambda word: pytest.fail(f"{word} in --json output"))


@pytest.mark.parametrize("given", ["cpu,cpu", "{A},{B}", "cpu,{A}"])
def test_two_profiles_of_one_name_are_refused(tmp_path, capsys, given):
    a, b = _cpu_profile(tmp_path / "a"), _cpu_profile(tmp_path / "b")
    profiles = given.replace("{A}", str(a)).replace("{B}", str(b))
    assert_one_line_exit_2(*run_cli(capsys, ["compare-hw", "--design", "fspinn", "--neurons", "100", "--profiles",
                                             profiles]), "'cpu'", "both")


# --------------------------------------------------------------------------- --set


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1e300"])
def test_a_bad_set_value_names_the_flag_not_the_recipe_file(cwd, capsys, value):
    err = assert_one_line_exit_2(*run_cli(capsys, ["train", "--set", f"excitatory.tau_m_ms={value}", "--out", "r"]),
                                 f"--set excitatory.tau_m_ms={value}")
    assert "designs" not in err and ".toml" not in err
    assert not (cwd / "r").exists()


# --------------------------------------------------------------------------- report


def test_report_of_a_missing_database_creates_nothing(cwd, capsys):
    assert_one_line_exit_2(*run_cli(capsys, ["report", "nosuch", "--storage", "sqlite:///newdir/x.db"]),
                           "--storage", "newdir/x.db")
    assert list(cwd.iterdir()) == []


# --------------------------------------------------------------------------- data fetch


@pytest.fixture()
def mirror(tmp_path):
    """A local HTTP server over a folder (the mirror), and its URL."""
    root = tmp_path / "mirror"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test's stderr for the command under test
        pass


def test_fetch_of_bad_files_is_one_line_without_blank_lines(mirror, tmp_path, capsys):
    root, url = mirror
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (root / f"{stem}.gz").write_bytes(gzip.compress(b"not an IDX file"))
    dest = tmp_path / "dest"
    code, _, err = run_cli(capsys, ["data", "fetch", "mnist", "--dest", dest, "--base-url", url])
    # The download is work done, so its progress lines (which URL, how many bytes) come first;
    # then the error, on one line, last, and no blank line anywhere.
    lines = err.splitlines()
    assert code == 2 and err.endswith("\n") and "" not in lines, err
    assert [line for line in lines if line.startswith("error: ")] == lines[-1:] and "could not fetch" in lines[-1]
    assert all(line.startswith("download") for line in lines[:-1]), lines
    assert not [p for p in dest.iterdir()], "a partial download was left behind"


def test_fetched_files_are_readable_by_others(mirror, tmp_path):
    from dse.data.fetch import fetch_dataset
    from dse.data.idx import payload_sha256
    from dse.data.locate import FILE_STEMS

    root, url = mirror
    tiny = write_tiny_data(tmp_path / "tiny")
    expected = {}
    for stem in FILE_STEMS:
        shutil.copy(tiny / f"{stem}.gz", root / f"{stem}.gz")
        expected[stem] = payload_sha256(root / f"{stem}.gz")
    dest = fetch_dataset("mnist", tmp_path / "dest", base_url=url, expected=expected, progress=False)
    modes = {p.name: p.stat().st_mode & 0o777 for p in dest.iterdir()}
    assert modes and all(m & 0o044 == 0o044 for m in modes.values()), modes
    assert hashlib.sha256((dest / "t10k-labels-idx1-ubyte.gz").read_bytes()).hexdigest() == \
        hashlib.sha256((root / "t10k-labels-idx1-ubyte.gz").read_bytes()).hexdigest()


# --------------------------------------------------------------------------- calibrate


@pytest.fixture(scope="module")
def measurements(tmp_path_factory):
    from dse.cli.main import main

    out = tmp_path_factory.mktemp("measure")
    data = write_tiny_data(out / "data")
    assert main(["measure", "--sizes", "10", "20", "--images", "2", "--repeats", "1", "--data-dir", str(data),
                 "--out", str(out / "m")]) == 0
    return out / "m" / "measurements.json"


def test_calibrate_prints_no_numpy_warning(measurements, tmp_path, capsys):
    code, out, err = run_cli(capsys, ["calibrate", measurements, "--profile", "cpu", "--out", tmp_path / "c.toml"])
    assert code == 0 and err == "", err


@pytest.mark.parametrize("field, value", [("cpu_s_per_image", 1e-320), ("cpu_s_per_image", 1e300),
                                          ("counts_per_image", 1e308)])
def test_calibrate_refuses_measurements_that_break_the_fit_in_one_line(measurements, tmp_path, capsys, field,
                                                                       value):
    doc = json.loads(measurements.read_text())
    for rec in doc["records"]:
        rec[field] = {k: value for k in rec[field]} if isinstance(rec[field], dict) else value
    edited = tmp_path / "m.json"
    edited.write_text(json.dumps(doc))
    err = assert_one_line_exit_2(*run_cli(capsys, ["calibrate", edited, "--profile", "cpu", "--out",
                                                   tmp_path / "c.toml"]), str(edited), field)
    assert "Warning" not in err
    assert not (tmp_path / "c.toml").exists()
    assert os.listdir(tmp_path) == ["m.json"]
