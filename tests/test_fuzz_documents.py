"""Fuzzing the files users edit (issue #6, part 4): hardware profiles and design recipes.

tests/test_profile_fuzz.py fuzzes the profile loader with random documents and
edits; here the bundled profiles are mutated structurally (a key or table
dropped, a value's type, sign or size changed), read from files, and the
result must be usable by the cost model. The property: see tests/fuzz_common.py.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given, settings, strategies as st

from dse.cost.model import estimate_cost
from dse.cost.profiles import load_profile
from dse.cost.quant import parse_precision
from dse.cost.schema import HardwareProfile, ProfileError, coefficient_fields, spec_fields
from dse.models.constants import engine_constants
from dse.models.network import MAX_NEURONS, init_state
from dse.models.fixedpoint import FormatError
from dse.models.quantize import parse_quant
from dse.models.recipes import _SCHEMA, DESIGNS, Recipe, RecipeError, load_recipe, parse_overrides
from tests.fuzz_common import REPO, PROFILE_NAMES, FUZZ, assert_one_line, numberish
from tomli_w import dumps as dump_toml


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
        assert_one_line(exc)
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
    quant = parse_quant("weights=Q0.8,inh=Q6.2,vmem=Q7.8,vth=Q7.8")
    for q in (None, quant):
        try:
            c = engine_constants(recipe, np.float32, q)
        except FormatError as exc:  # an inhibition strength beyond Q6.2 is refused, in one line
            assert q is not None
            assert_one_line(exc)
            continue
        for n in (1, 3, MAX_NEURONS):  # training resolves theta's decay for the network's size
            assert np.all(np.isfinite(c.fc_for(n))), (n, c.fc_for(n))
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
        assert_one_line(exc)
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
                        assert_one_line(exc)
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


@FUZZ
@given(design=st.sampled_from(DESIGNS),
       items=st.lists(st.one_of(
           st.builds(lambda s, k, v: f"{s}.{k}={v}",
                     st.sampled_from(list(_SCHEMA)), st.sampled_from(sorted({k for s in _SCHEMA.values() for k in s})),
                     numberish),
           st.text(max_size=20)), max_size=4))
def test_fuzz_set_overrides(design, items):
    try:
        recipe = load_recipe(design, parse_overrides(items))
    except RecipeError as exc:
        assert_one_line(exc)
        return
    _assert_usable_recipe(recipe)
