"""Fuzzing what users type and edit (issue #6, part 4): loaders, string parsers and the CLI.

The property everywhere: the input is accepted and the result is usable, or
it is refused with the module's own error (a ValueError subclass) whose
message is one line -- never a KeyError, TypeError, OverflowError, ... And
the CLI exits 0 or 2, with one line on stderr for 2, writing nothing.

tests/test_profiles.py already fuzzes the profile loader with random
documents and edits; here the bundled profiles are mutated structurally
(a key or table dropped, a value's type, sign or size changed), read from
files, and the result must be usable by the cost model.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import math
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dse.models.constants import engine_constants
from dse.models.fixedpoint import ROUNDING_MODES, FormatError, QFormat, parse_format
from dse.models.network import init_state
from dse.models.quantize import QUANT_KEYS, QuantConfig, parse_quant
from dse.models.recipes import (
    _SCHEMA,
    DESIGNS,
    Recipe,
    RecipeError,
    load_recipe,
    parse_overrides,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dse.cli.main import main
from dse.cost.model import estimate_cost
from dse.cost.profiles import (
    HardwareProfile,
    ProfileError,
    coefficient_fields,
    load_profile,
    spec_fields,
)
from dse.cost.quant import PRESETS, Precision, parse_precision

REPO = Path(__file__).resolve().parents[1]
PROFILE_NAMES = sorted(p.stem for p in (REPO / "hw_profiles").glob("*.toml"))

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
CLI_FUZZ = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text and "\n" not in text and "\r" not in text, repr(text)


def test_toml_writer_round_trips_the_bundled_files():
    for path in [*(REPO / "hw_profiles").glob("*.toml"), *(REPO / "models" / "designs").glob("*.toml")]:
        doc = tomllib.loads(path.read_text())
        assert tomllib.loads(dump_toml(doc)) == doc


# --------------------------------------------------------------------------- values that break things

_EXTREMES = [0, -1, 1, 2**31, 2**63 - 1, -(2**63), 10**30, 0.0, -0.0, 5e-324, 1e-12, 1e300, -1e300,
             1.7976931348623157e308, math.inf, -math.inf, math.nan, True, False, "", "3", "x\ny", [], [1.0], {},
             {"a": 1}, dt.date(2025, 1, 31)]
_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.dates(),
    st.sampled_from(_EXTREMES).map(copy.deepcopy),
)
from tests.toml_writer import dump_toml

_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


@st.composite
def _mutations(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    """1-4 edits of a parsed TOML document: drop a key or table, or change a value's type, sign or size."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 4))):
        tables = [k for k, v in doc.items() if isinstance(v, dict)]
        where = draw(st.sampled_from([None, *tables, *tables]))  # tables hold most keys
        target = doc if where is None else doc[where]
        # size changes are the likeliest to get past a type check, so they come up most
        action = draw(st.sampled_from(["scale", "scale", "scale", "extreme", "extreme", "negate", "drop", "drop-table",
                                       "stringify", "listify", "replace", "add"]))
        if action == "drop-table" and where is not None:
            del doc[where]
            continue
        if action == "add" or not target:
            target[draw(st.one_of(st.sampled_from(_RECIPE_KEYS), st.text(min_size=1, max_size=10)))] = draw(_values)
            continue
        key = draw(st.sampled_from(sorted(target)))
        value = target[key]
        if action in ("drop", "drop-table"):
            del target[key]
        elif action == "scale" and _is_number(value):
            k = draw(st.integers(-330, 300))
            target[key] = value * 10**k if isinstance(value, int) and k >= 0 else value * 10.0**k
        elif action == "negate" and _is_number(value):
            target[key] = -value
        elif action == "stringify":
            target[key] = str(value)
        elif action == "listify":
            target[key] = [value]
        elif action == "extreme":
            target[key] = copy.deepcopy(draw(st.sampled_from(_EXTREMES)))  # later edits must not change _EXTREMES
        else:
            target[key] = draw(_values)
    return doc


# --------------------------------------------------------------------------- the hardware profile loader

_PROFILE_DOCS = {name: tomllib.loads((REPO / "hw_profiles" / f"{name}.toml").read_text()) for name in PROFILE_NAMES}


def _assert_usable_profile(profile: HardwareProfile) -> None:
    for info in spec_fields():
        value = getattr(profile.specs, info.key)
        if info.type in ("int", "float") and value is not None:
            assert math.isfinite(value) and value > 0, (info.key, value)
    for info in coefficient_fields():
        value = getattr(profile.coefficients, info.key)
        assert math.isfinite(value) and value >= 0, (info.key, value)
    for design in ("fspinn", "baseline"):
        report = estimate_cost(design, 100, profile, precision=parse_precision("8bit"))
        assert report is not None


@FUZZ
@given(data=st.data(), name=st.sampled_from(PROFILE_NAMES))
def test_fuzz_mutated_bundled_profiles_from_files(tmp_path_factory, data, name):
    doc = data.draw(_mutations(_PROFILE_DOCS[name]))
    folder = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp()))
    path = folder / f"{name}.toml"
    path.write_text(dump_toml(doc), encoding="utf-8")
    try:
        profile = load_profile(str(path))
    except ProfileError as exc:
        _one_line(exc)
        assert str(exc).startswith(str(path))
        return
    _assert_usable_profile(profile)


# --------------------------------------------------------------------------- the design recipe loader

_RECIPE_DOCS = {d: tomllib.loads((REPO / "models" / "designs" / f"{d}.toml").read_text()) for d in DESIGNS}
_RECIPE_KEYS = sorted({k for sec in _SCHEMA.values() for k in sec} | set(_SCHEMA)
                      | {"schema_version", "design", "description", "citation"})


def _assert_usable_recipe(recipe: Recipe) -> None:
    """What training needs from a recipe: finite engine constants (plain and fixed point) and a first state."""
    assert isinstance(recipe, Recipe)
    quant = parse_quant("weights=Q0.8,inh=Q5.3,vmem=Q7.8,vth=Q7.8")
    for q in (None, quant):
        c = engine_constants(recipe, np.float32, q)
        assert np.all(np.isfinite(c.fc)), c.fc
        assert np.all(np.isfinite(c.pre_table)) and np.all(np.isfinite(c.post_table))
        assert 1 <= c.n_steps <= 10_000 and c.ic.min() >= 0
    state = init_state(3, recipe, 0)
    assert np.all(np.isfinite(state.weights))


def _load_recipe_text(folder_factory, text: str | bytes) -> None:
    folder = Path(tempfile.mkdtemp(dir=folder_factory.getbasetemp()))
    path = folder / "fuzz.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    try:
        recipe = load_recipe(str(path))
    except RecipeError as exc:
        _one_line(exc)
        return
    _assert_usable_recipe(recipe)


@settings(FUZZ, max_examples=250)
@given(data=st.data(), design=st.sampled_from(DESIGNS))
def test_fuzz_mutated_bundled_recipes(tmp_path_factory, data, design):
    _load_recipe_text(tmp_path_factory, dump_toml(data.draw(_mutations(_RECIPE_DOCS[design]))))


def test_every_recipe_constant_at_extreme_values(tmp_path_factory):
    """Not random: each numeric constant of each design, alone, at each extreme (and as an override)."""
    for design, doc in _RECIPE_DOCS.items():
        for section, table in doc.items():
            if not isinstance(table, dict):
                continue
            for key, value in table.items():
                if not _is_number(value):
                    continue
                for extreme in (0, -1, 10**30, 2**63, 5e-324, 1e-12, 1e12, 1e300, math.inf, math.nan, -value,
                                value * 1e6, value / 1e6):
                    edited = copy.deepcopy(doc)
                    edited[section][key] = extreme
                    _load_recipe_text(tmp_path_factory, dump_toml(edited))
                    try:
                        recipe = load_recipe(design, {f"{section}.{key}": repr(extreme)})
                    except RecipeError as exc:
                        _one_line(exc)
                        continue
                    _assert_usable_recipe(recipe)


@FUZZ
@given(doc=st.dictionaries(st.one_of(st.sampled_from(_RECIPE_KEYS), st.text(max_size=8)),
                           st.one_of(_values, st.dictionaries(st.sampled_from(_RECIPE_KEYS), _values, max_size=6)),
                           max_size=8))
def test_fuzz_random_recipe_documents(tmp_path_factory, doc):
    _load_recipe_text(tmp_path_factory, dump_toml(doc))


@settings(max_examples=60, deadline=None)
@given(raw=st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_fuzz_random_recipe_text_and_bytes(tmp_path_factory, raw):
    _load_recipe_text(tmp_path_factory, raw)


_numberish = st.one_of(
    st.integers(-(10**25), 10**25).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "1e400", "-1e400", "1e-400", "nan", "inf", "0x10", "1_000", "١٢", "3.", ".5", "1e3",
                     "true", "lateral", "fspinn"]),
)


@FUZZ
@given(design=st.sampled_from(DESIGNS),
       items=st.lists(st.one_of(
           st.builds(lambda s, k, v: f"{s}.{k}={v}",
                     st.sampled_from(list(_SCHEMA)), st.sampled_from(sorted({k for s in _SCHEMA.values() for k in s})),
                     _numberish),
           st.text(max_size=20)), max_size=4))
def test_fuzz_set_overrides(design, items):
    try:
        recipe = load_recipe(design, parse_overrides(items))
    except RecipeError as exc:
        _one_line(exc)
        return
    _assert_usable_recipe(recipe)


# --------------------------------------------------------------------------- fixed-point and precision parsers

_digits = st.one_of(st.integers(-5, 70).map(str), st.integers(0, 10**30).map(str),
                    st.sampled_from(["", "*", "x", "1e3", "٣", " 8", "08", "+8", "-0"]))
_format_like = st.builds(lambda p, i, f, sep: f"{p}{i}{sep}{f}",
                         st.sampled_from(["Q", "q", "sQ", "uQ", "SQ", "UQ", " Q", "Qx", "", "s", "QQ"]),
                         _digits, _digits, st.sampled_from([".", ".", ",", "..", ""]))
_format_text = st.one_of(_format_like, st.text(max_size=15))


@FUZZ
@given(text=_format_text)
def test_fuzz_parse_format(text):
    try:
        fmt = parse_format(text)
    except FormatError as exc:
        _one_line(exc)
        return
    assert isinstance(fmt, QFormat) and 1 <= fmt.word_bits <= 32
    assert parse_format(str(fmt)) == fmt


_quant_item = st.one_of(
    st.builds(lambda k, f: f"{k}={f}", st.sampled_from([*QUANT_KEYS, "WEIGHTS", " vmem ", "bias", ""]), _format_text),
    st.text(max_size=12),
)
_quant_spec = st.lists(_quant_item, max_size=5).map(",".join)
_ranges = st.one_of(st.none(), st.dictionaries(
    st.sampled_from(QUANT_KEYS),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**20), st.none(), st.text(max_size=4)),
    max_size=4))


@FUZZ
@given(spec=st.one_of(_quant_spec, st.text(max_size=30)),
       rounding=st.one_of(st.sampled_from(ROUNDING_MODES), st.text(max_size=10)), ranges=_ranges)
def test_fuzz_parse_quant(spec, rounding, ranges):
    try:
        config = parse_quant(spec, rounding, ranges=ranges)
    except FormatError as exc:
        _one_line(exc)
        return
    assert isinstance(config, QuantConfig)
    assert config.weights is None or not config.weights.signed
    assert config.inhibition is None or not config.inhibition.signed
    assert all(f is None or f.signed for f in (config.vmem, config.vth))
    again = parse_quant(config.spec() if not config.is_float else "", config.rounding)
    assert (again.weights, again.inhibition, again.vmem, again.vth) == (
        config.weights, config.inhibition, config.vmem, config.vth)


@FUZZ
@given(spec=st.one_of(_quant_spec, st.text(max_size=30), st.sampled_from([*PRESETS, "FP32", " 8bit ", "4bit", "16"])))
def test_fuzz_parse_precision(spec):
    try:
        precision = parse_precision(spec)
    except FormatError as exc:
        _one_line(exc)
        return
    assert isinstance(precision, Precision)
    assert all(1 <= b <= 32 for b in precision.bit_widths().values())
    assert parse_precision(precision.spec()).formats() == precision.formats()


# --------------------------------------------------------------------------- search parsers (dse/search)
# Their messages quote the text verbatim, line breaks included (handed over:
# tests/test_bad_input.py::test_handed_over_search_messages_keep_one_line), so
# texts here hold none.

_no_breaks = st.text(max_size=20).filter(lambda t: "\n" not in t and "\r" not in t)


@FUZZ
@given(text=st.one_of(_no_breaks, st.lists(_numberish, max_size=5).map(",".join)))
def test_fuzz_parse_fidelities(text):
    from dse.search.objectives import parse_fidelities

    assume("\n" not in text and "\r" not in text)
    try:
        values = parse_fidelities(text)
    except ValueError as exc:
        _one_line(exc)
        return
    assert values and all(math.isfinite(v) and v > 0 for v in values)
    assert all(b > a for a, b in zip(values, values[1:]))
    assert values[-1] == 1.0 or all(v == int(v) for v in values)


_space_text = st.one_of(
    _no_breaks,
    st.lists(_numberish, min_size=1, max_size=3).map(",".join),
    st.builds(lambda a, b, c: f"{a}..{b}" + (f":{c}" if c else ""), _numberish, _numberish,
              st.one_of(st.just(""), _numberish)),
    st.lists(st.sampled_from([*DESIGNS, "ptq", "itq", *ROUNDING_MODES, "nope", ""]), min_size=1,
             max_size=3).map(",".join),
)


@FUZZ
@given(name=st.one_of(st.sampled_from(["design", "neurons", "weights_bits", "inh_bits", "vmem_bits", "vth_bits",
                                       "scheme", "rounding", "rho", "window_steps"]), _no_breaks),
       text=_space_text)
def test_fuzz_space_restriction(name, text):
    from dse.search.space import DEFAULT_SPACE, SearchSpace, SpaceError

    assume("\n" not in text and "\r" not in text)
    try:
        space = DEFAULT_SPACE.restricted({name: text})
    except SpaceError as exc:
        _one_line(exc)
        return
    assert isinstance(space, SearchSpace)
    dim, before = space.dim(name), DEFAULT_SPACE.dim(name)
    if dim.kind == "categorical":
        assert dim.choices and len(set(dim.choices)) == len(dim.choices)
        for c in dim.choices:
            assert c in before.allowed if before.allowed else before.bounds[0] <= c <= before.bounds[1]
    else:
        lo, hi = before.bounds
        assert lo <= dim.low <= dim.high <= hi and math.isfinite(dim.step) and dim.step > 0


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
@given(budget=st.one_of(_cli_text, _numberish), form=st.booleans())
def test_fuzz_cli_budget(budget, form):
    flag = [f"--budget-mb={budget}"] if form else ["--budget-mb", budget]
    code, out, _ = _cli(["explore", *flag, "--show-space"])
    if code == 0:
        assert "neurons" in out


@CLI_FUZZ
@given(item=st.one_of(
    _no_breaks,
    # only dimensions whose every valid value is cheap to show (a fine neurons or rho grid is not: handed over)
    st.builds(lambda n, t: f"{n}={t}",
              st.sampled_from(["design", "weights_bits", "inh_bits", "vmem_bits", "vth_bits", "scheme", "rounding"]),
              st.one_of(_space_text, _numberish))))
def test_fuzz_cli_space(item):
    assume("\n" not in item and "\r" not in item)
    _cli(["explore", "--space", item, "--show-space", "--budget-mb", "1"])


@CLI_FUZZ
@given(text=_no_breaks)
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
@given(neurons=st.one_of(_numberish, _cli_text), quant=st.one_of(_quant_spec, _cli_text))
def test_fuzz_cli_cost_numbers_and_precision(neurons, quant):
    _cli(["cost", "--design", "baseline", "--neurons", neurons, "--quant", quant, "--json"])


# The commands below would train or measure on valid input; a --data-dir that does not
# exist makes every input fail, so the property is: rejected (2) before any work, in one line.
NO_DATA = ["--data-dir", "no-data-here"]


@CLI_FUZZ
@given(neurons=st.one_of(_numberish, _cli_text), quant=st.one_of(_quant_spec, _cli_text),
       override=st.one_of(st.builds(lambda s, k, v: f"{s}.{k}={v}", st.sampled_from(list(_SCHEMA)),
                                    st.sampled_from(sorted({k for s in _SCHEMA.values() for k in s})), _numberish),
                          _cli_text),
       seed=st.one_of(_numberish, _cli_text))
def test_fuzz_cli_train_rejects_before_any_work(neurons, quant, override, seed):
    code, _, _ = _cli(["train", "--neurons", neurons, "--quant", quant, "--set", override, "--seed", seed,
                       "--out", "run", *NO_DATA])
    assert code == 2


@CLI_FUZZ
@given(bits=st.lists(st.one_of(_numberish, _cli_text), min_size=1, max_size=3), neurons=_numberish)
def test_fuzz_cli_sweep_bits_rejects_before_any_work(bits, neurons):
    code, _, _ = _cli(["sweep-bits", "--designs", "fspinn", "--neurons", neurons, "--bits", *bits, "--out", "s",
                       *NO_DATA])
    assert code == 2


@CLI_FUZZ
@given(sizes=st.lists(st.one_of(_numberish, _cli_text), min_size=1, max_size=3),
       quant=st.one_of(_quant_spec, _cli_text), images=_numberish)
def test_fuzz_cli_measure_rejects_before_any_work(sizes, quant, images):
    code, _, _ = _cli(["measure", "--sizes", *sizes, "--quant", quant, "--images", images, "--repeats", "1",
                       "--out", "m", *NO_DATA])
    assert code == 2


@CLI_FUZZ
@given(neurons=_numberish, images=_numberish)
def test_fuzz_cli_bench_rejects_before_any_work(neurons, images):
    code, _, _ = _cli(["bench", "--neurons", neurons, "--images", images, *NO_DATA])
    assert code == 2
