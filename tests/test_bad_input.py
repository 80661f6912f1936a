"""Bad input on the command line (issue #6, part 4): one line on stderr, exit status 2, nothing written.

Every case runs `dse.cli.main.main` in a fresh, empty working directory and checks
that it is still empty afterwards (no run folder, no reports/, no database,
no cache). Files a case needs (broken profiles, damaged data, a fake run
folder) live in a sibling folder, outside the one checked. No case trains:
each error must be found before any work starts.
"""

from __future__ import annotations

import pytest

from tests.bad_input_material import assert_one_line_exit_2, cwd, expand, paths  # noqa: F401 (fixtures)


# --------------------------------------------------------------------------- the cases

COST = ["cost", "--design", "fspinn", "--neurons", "100"]
COMPARE = ["compare-hw", "--design", "fspinn", "--neurons", "100"]
EXPLORE = ["explore", "--budget-mb", "1"]
MEASURE = ["measure", "--sizes", "10", "--images", "2", "--repeats", "1", "--out", "m"]
TRAIN = ["train", "--train-samples", "20", "--test-samples", "20", "--assign-samples", "20", "--neurons", "4",
         "--quiet", "--out", "r"]
SWEEP = ["sweep-bits", "--designs", "fspinn", "--neurons", "4", "--train-samples", "20", "--test-samples", "20",
         "--out", "s"]
BENCH = ["bench", "--neurons", "4", "--images", "4"]
QUANTIZE = ["quantize", "{RUN}", "--out", "q"]

PROFILE_CASES = [
    # (argv, fragment of the message)
    ([*COST, "--profile", "nope"], "unknown hardware profile 'nope'"),
    ([*COST, "--profile", "cpuu"], "did you mean 'cpu'"),
    ([*COMPARE, "--profiles", "cpu,nope"], "unknown hardware profile 'nope'"),
    ([*EXPLORE, "--profile", "nope"], "unknown hardware profile 'nope'"),
    ([*EXPLORE, "--profile", "nope", "--show-space"], "unknown hardware profile 'nope'"),
    ([*MEASURE, "--profile", "nope"], "unknown hardware profile 'nope'"),
    (["calibrate", "{MEAS_NOT_JSON}", "--profile", "nope", "--out", "x.toml"], "unknown hardware profile"),
    ([*COST, "--profile", "{OUT}/missing.toml"], "no such profile file"),
    ([*COST, "--profile", "{EMPTY}"], "cannot read profile file"),
]
for _key, _fragment in (("BROKEN_TOML", "invalid TOML"), ("NOT_UTF8", "not UTF-8"),
                        ("MISSING_KEY", "missing required key 'specs.board_power_w'"),
                        ("NEGATIVE", "'specs.board_power_w' must be > 0"),
                        ("WRONG_TYPE", "'specs.cores' must be an integer"),
                        ("ZERO_MEMORY", "'specs.memory_bytes' must be > 0"),
                        ("NAME_MISMATCH", "must match")):
    PROFILE_CASES += [
        ([*COST, "--profile", f"{{{_key}}}"], _fragment),
        ([*COMPARE, "--profiles", f"{{{_key}}}"], _fragment),
        ([*EXPLORE, "--profile", f"{{{_key}}}"], _fragment),
        ([*MEASURE, "--profile", f"{{{_key}}}"], _fragment),
    ]

DESIGN_CASES = [
    (["train", "--design", "nope", "--out", "r"], "invalid choice: 'nope'"),
    (["sweep-bits", "--designs", "fspinn", "nope", "--out", "s"], "invalid choice: 'nope'"),
    (["bench", "--design", "nope"], "invalid choice: 'nope'"),
    (["cost", "--design", "nope", "--neurons", "10"], "invalid choice: 'nope'"),
    (["compare-hw", "--design", "nope", "--neurons", "10"], "invalid choice: 'nope'"),
    (["compare-hw", *COMPARE[1:], "--vs-design", "nope"], "invalid choice: 'nope'"),
    ([*MEASURE, "--designs", "nope"], "invalid choice: 'nope'"),
    (["explore", "--space", "design=nope", "--budget-mb", "1"], "unknown value 'nope'"),
    (["explore", "--space", "design=nope", "--show-space"], "unknown value 'nope'"),
    (["explore", "--space", "design=fspinn,nope", "--budget-mb", "1"], "unknown value 'nope'"),
]

DATASET_CASES = [
    (["train", "--dataset", "nope", "--out", "r"], "invalid choice: 'nope'"),
    (["sweep-bits", "--dataset", "nope", "--out", "s"], "invalid choice: 'nope'"),
    (["bench", "--dataset", "nope"], "invalid choice: 'nope'"),
    ([*MEASURE, "--dataset", "nope"], "invalid choice: 'nope'"),
    ([*COST, "--dataset", "nope"], "invalid choice: 'nope'"),
    ([*EXPLORE, "--dataset", "nope"], "invalid choice: 'nope'"),
    (["data", "info", "nope"], "invalid choice: 'nope'"),
    (["data", "fetch", "cifar10"], "invalid choice: 'cifar10'"),
]

BUDGET_CASES = [
    (["explore", "--budget-mb", "0"], "must be a number > 0"),
    (["explore", "--budget-mb", "-1"], "must be a number > 0"),
    (["explore", "--budget-mb=-1"], "must be a number > 0"),
    (["explore", "--budget-mb", "nan"], "must be a number > 0"),
    (["explore", "--budget-mb", "inf"], "must be a number > 0"),
    (["explore", "--budget-mb=-inf"], "must be a number > 0"),
    (["explore", "--budget-mb", "1e400"], "must be a number > 0"),
    (["explore", "--budget-mb", "1e-400"], "must be a number > 0"),
    (["explore", "--budget-mb", "abc"], "expected a number"),
    (["explore", "--budget-mb", ""], "expected a number"),
    (["explore", "--budget-mb", "0x10"], "expected a number"),
    ([*EXPLORE, "--budget-mj", "0"], "must be a number > 0"),
    ([*EXPLORE, "--budget-mj", "-5"], "must be a number > 0"),
    ([*EXPLORE, "--budget-mj", "nan"], "must be a number > 0"),
    ([*EXPLORE, "--budget-mj", "inf"], "must be a number > 0"),
    ([*EXPLORE, "--budget-mj", "abc"], "expected a number"),
    ([*EXPLORE, "--timeout", "0"], "must be a number > 0"),
    ([*EXPLORE, "--mu", "nan"], "must be a number >= 0"),
    ([*EXPLORE, "--trials", "0"], "must be > 0"),
    ([*EXPLORE, "--min-accuracy", "1.5"], "must be a fraction in 0..1"),
    ([*EXPLORE, "--min-accuracy", "-0.1"], "must be a fraction in 0..1"),
    ([*EXPLORE, "--min-accuracy", "nan"], "must be a fraction in 0..1"),
    ([*EXPLORE, "--jobs", "0"], "must be > 0"),
    ([*EXPLORE, "--jobs", "two"], "expected a whole number"),
    ([*EXPLORE, "--jobs", "2", "--storage", "sqlite:///:memory:"], "not memory"),
    (["explore"], "--budget-mb is required"),
    (["explore", "--budget-mj", "1"], "--budget-mb is required"),
    (["explore", "--space", "design=fspinn"], "--budget-mb is required"),
    (["explore", "--budget-mb"], "expected one argument"),
]

BIT_CASES = [
    (["explore", "--space", "weights_bits=0", "--budget-mb", "1"], "outside 2..32"),
    (["explore", "--space", "weights_bits=33", "--budget-mb", "1"], "outside 2..32"),
    (["explore", "--space", "weights_bits=1..64", "--budget-mb", "1"], "whole number"),
    (["explore", "--space", "weights_bits=1", "--budget-mb", "1"], "outside 2..32"),
    (["explore", "--space", "weights_bits=-8", "--budget-mb", "1"], "outside 2..32"),
    (["explore", "--space", "weights_bits=8,8", "--budget-mb", "1"], "repeated"),
    (["explore", "--space", "weights_bits=eight", "--budget-mb", "1"], "whole number"),
    (["explore", "--space", "inh_bits=4", "--budget-mb", "1"], "outside 7..32"),
    (["explore", "--space", "vmem_bits=64", "--show-space"], "outside 8..32"),
    (["explore", "--space", "neurons=0", "--budget-mb", "1"], "outside"),
    (["explore", "--space", "neurons=900..100", "--budget-mb", "1"], "low is above high"),
    (["explore", "--space", "rho=1..2:0", "--budget-mb", "1"], "step must be > 0"),
    (["explore", "--space", "rho=nan", "--budget-mb", "1"], "outside"),
    (["explore", "--space", "bits=8", "--budget-mb", "1"], "unknown dimension"),
    (["explore", "--space", "weights_bits", "--budget-mb", "1"], "NAME=VALUES"),
    (["explore", "--space", "weights_bits=", "--budget-mb", "1"], "give one or more values"),
    (["explore", "--fidelities", "0,1", "--budget-mb", "1"], "--fidelities"),
    (["train", "--quant", "weights=Q0.99", "--out", "r"], "word length 99 bits exceeds 32"),
    (["train", "--quant", "weights=Q-1.8", "--out", "r"], "integer bits must be >= 0"),
    (["train", "--quant", "weights=Q0.-8", "--out", "r"], "fractional bits must be >= 0"),
    (["train", "--quant", "weights=Q0.0", "--out", "r"], "at least one integer or fractional bit"),
    (["train", "--quant", "weights=Q99999999999999999999.8", "--out", "r"], "exceeds 32"),
    (["train", "--quant", "weights=Q1e3.8", "--out", "r"], "not a whole number"),
    (["train", "--quant", "weights=Q8", "--out", "r"], "missing '.f'"),
    (["train", "--quant", "weights=8", "--out", "r"], "must start with Q"),
    (["train", "--quant", "weights=", "--out", "r"], "empty format"),
    (["train", "--quant", "weights=sQ0.8", "--out", "r"], "unsigned"),
    (["train", "--quant", "vmem=uQ7.8", "--out", "r"], "signed format"),
    (["train", "--quant", "vmem=Q40.8", "--out", "r"], "exceeds 32"),
    (["train", "--quant", "weights=Q*.8", "--out", "r"], "'Q*' needs an observed range"),
    (["train", "--quant", "bias=Q0.8", "--out", "r"], "KEY one of"),
    (["train", "--quant", "weights=Q0.8,weights=Q0.8", "--out", "r"], "given twice"),
    (["train", "--quant", "8bit", "--out", "r"], "KEY=FORMAT"),
    ([*COST, "--quant", "weights=Q0.99"], "exceeds 32"),
    ([*COST, "--quant", "4bit"], "preset"),
    ([*COST, "--quant", "weights=Q*.8"], "'Q*' needs an observed range"),
    ([*COMPARE, "--quant", "weights=Q-1.8"], "integer bits must be >= 0"),
    ([*COMPARE, "--vs-design", "baseline", "--vs-quant", "weights=Q0.99"], "exceeds 32"),
    ([*MEASURE, "--quant", "weights=Q33.0"], "exceeds 32"),
    ([*QUANTIZE, "--weights", "Q0.99"], "exceeds 32"),
    ([*QUANTIZE, "--inh", "Q-1.8"], "integer bits must be >= 0"),
    ([*QUANTIZE, "--vmem", "Q*.99"], "exceeds 32"),
    ([*QUANTIZE, "--vth", "uQ7.8"], "signed format"),
    (["quantize", "{RUN}", "--out", "q"], "nothing to quantize"),
    ([*SWEEP, "--bits", "0"], "must be > 0"),
    ([*SWEEP, "--bits", "1"], "2..32"),
    ([*SWEEP, "--bits", "33"], "2..32"),
    ([*SWEEP, "--bits", "8", "64"], "2..32"),
    ([*SWEEP, "--bits", "-4"], "--bits"),
    ([*SWEEP, "--bits", "eight"], "whole number"),
    ([*SWEEP, "--bits", "8.5"], "whole number"),
    ([*SWEEP, "--bits"], "expected at least one argument"),
]

DATA_CASES = []
for _key, _fragment in (("EMPTY", "no complete MNIST set"), ("NONEXISTENT", "does not exist"),
                        ("A_FILE", "does not exist"), ("TRUNCATED_GZ", "corrupt gzip data"),
                        ("GARBAGE", "not an IDX file"), ("SHORT_PAYLOAD", "truncated payload"),
                        ("BAD_LABELS", "out of range"), ("MISMATCH", "labels but")):
    DATA_CASES += [
        ([*TRAIN, "--data-dir", f"{{{_key}}}"], _fragment),
        ([*BENCH, "--data-dir", f"{{{_key}}}"], _fragment),
        ([*MEASURE, "--data-dir", f"{{{_key}}}"], _fragment),
        ([*EXPLORE, "--data-dir", f"{{{_key}}}"], _fragment),
        (["data", "info", "mnist", "--data-dir", f"{{{_key}}}"], _fragment),
        (["evaluate", "{RUN}", "--data-dir", f"{{{_key}}}"], _fragment),
        ([*QUANTIZE, "--weights", "Q0.8", "--data-dir", f"{{{_key}}}"], _fragment),
    ]
DATA_CASES += [
    ([*SWEEP, "--data-dir", "{EMPTY}"], "no complete MNIST set"),
    ([*SWEEP, "--data-dir", "{GARBAGE}"], "not an IDX file"),
]

RUN_CASES = [
    (["evaluate", "{NO_RUN}"], "not a directory"),
    (["evaluate", "{EMPTY}"], "no manifest"),
    (["evaluate", "{RUN_NOT_JSON}"], "corrupt manifest"),
    (["evaluate", "{RUN_LIST}"], "not a JSON object"),
    (["evaluate", "{RUN_NO_CONFIG}"], "no config.design"),
    (["quantize", "{RUN_LIST}", "--weights", "Q0.8", "--out", "q"], "not a JSON object"),
    (["quantize", "{RUN_NO_CONFIG}", "--weights", "Q0.8", "--out", "q"], "no config.design"),
    ([*COST[:1], "--from-run", "{RUN_LIST}"], "not a JSON object"),
    ([*COST[:1], "--from-run", "{NO_RUN}"], "not a directory"),
    ([*COMPARE, "--profiles", "cpu", "--measurements", "{MEAS_EMPTY_RECORD}"], "record 0 has no 'design'"),
    ([*COMPARE, "--profiles", "cpu", "--measurements", "{MEAS_NOT_JSON}"], "not a readable measurements file"),
    (["calibrate", "{MEAS_EMPTY_RECORD}", "--out", "x.toml"], "record 0 has no 'design'"),
    (["calibrate", "{MEAS_BAD_FIELD}", "--out", "x.toml"], "field 'neurons'"),
    ([*COMPARE, "--profiles", "cpu", "--measurements", "{MEAS_BAD_FIELD}"], "field 'neurons'"),
]

OUTPUT_PATH_CASES = [
    # a file where a folder must go: refused before any work, not after it
    ([*TRAIN[:-1], "{A_FILE}"], "exists and is not a folder"),
    ([*TRAIN[:-1], "{A_FILE}/sub"], "exists and is not a folder"),
    (["quantize", "{RUN}", "--weights", "Q0.8", "--out", "{A_FILE}"], "exists and is not a folder"),
    ([*SWEEP[:-1], "{A_FILE}"], "exists and is not a folder"),
    ([*MEASURE[:-1], "{A_FILE}"], "exists and is not a folder"),
    ([*COMPARE, "--profiles", "cpu", "--html", "{EMPTY}"], "is a folder"),
    ([*COMPARE, "--profiles", "cpu", "--html", "{A_FILE}/chart.html"], "exists and is not a folder"),
    (["calibrate", "{MEAS_NOT_JSON}", "--out", "{A_FILE}/x.toml"], "exists and is not a folder"),
    ([*TRAIN[:-1], "{RUN}"], "already holds a finished run"),
    ([*TRAIN, "--resume"], "no checkpoint to resume"),
]

SIZE_CASES = [
    (["train", "--neurons", "0", "--out", "r"], "must be > 0"),
    (["train", "--neurons", "100001", "--out", "r"], "at most 100000"),
    (["train", "--neurons", "99999999999999999999", "--out", "r"], "at most 100000"),
    (["train", "--epochs", "0", "--out", "r"], "must be > 0"),
    (["train", "--seed", "-1", "--out", "r"], "0..2**63-1"),
    (["train", "--seed", str(2**63), "--out", "r"], "0..2**63-1"),
    (["train", "--assign-samples", "-3", "--out", "r"], "must be > 0"),
    ([*SWEEP, "--neurons", "200000"], "at most 100000"),
    (["bench", "--neurons", "99999999999999999999"], "at most 100000"),
    (["bench", "--images", "1000000000"], "at most 100000"),
    ([*MEASURE, "--sizes", "0"], "must be > 0"),
    ([*MEASURE, "--sizes", "1000000000"], "at most 100000"),
    ([*MEASURE, "--sizes", "ten"], "whole numbers"),
    ([*MEASURE, "--images", "1000000000"], "at most 100000"),
    ([*MEASURE, "--seed", "-1"], "0..2**63-1"),
    (["cost", "--design", "fspinn", "--neurons", "-3"], "must be > 0"),
    (["cost", "--neurons", "10"], "give --design and --neurons"),
    (["evaluate", "{RUN}", "--test-samples", "0"], "must be > 0"),
]

RECIPE_CASES = [
    # --set overrides a recipe constant; each must be refused before the data is even read
    (["train", "--set", "input.presentation_steps=99999999999999999999", "--out", "r"], "within +-1e+09"),
    (["train", "--set", "input.presentation_steps=100000000", "--out", "r"], "presentation_steps must be <="),
    (["train", "--set", "input.max_representations=99999999999999999999", "--out", "r"], "within +-1e+09"),
    (["train", "--set", "input.dt_ms=1e-320", "--out", "r"], "input.dt_ms"),
    (["train", "--set", "input.dt_ms=1000", "--out", "r"], "tau_m_ms"),
    (["train", "--set", "excitatory.tau_m_ms=1e-320", "--out", "r"], "excitatory.tau_m_ms"),
    (["train", "--set", "excitatory.refractory_ms=1e300", "--out", "r"], "excitatory.refractory_ms"),
    (["train", "--set", "excitatory.refractory_ms=1000", "--out", "r"], "one presentation"),
    (["train", "--set", "plasticity.w_max=1e300", "--out", "r"], "plasticity.w_max"),
    (["train", "--set", "weights.init_max=inf", "--out", "r"], "weights.init_max"),
    (["train", "--set", "inhibition.rho=nan", "--out", "r"], "inhibition.rho"),
    (["train", "--set", "inhibition.rho=-3", "--out", "r"], "must be >= 0"),
    (["train", "--set", "plasticity.window_steps=1000", "--out", "r"], "window_steps must be <="),
    (["train", "--set", "input.presentation_steps=1.5", "--out", "r"], "expected an int"),
    (["train", "--set", "input.dt_ms=abc", "--out", "r"], "expected a float"),
    (["train", "--set", "plasticity.rule=bogus", "--out", "r"], "plasticity.rule 'bogus' unknown"),
    (["train", "--set", "nope.key=1", "--out", "r"], "unknown recipe section"),
    (["train", "--set", "noequals", "--out", "r"], "SECTION.KEY=VALUE"),
    (["train", "--design", "baseline", "--set", "inhibition.scheme=lateral", "--out", "r"], "needs inhibition.w_lat"),
]

ALL_CASES = (PROFILE_CASES + DESIGN_CASES + DATASET_CASES + BUDGET_CASES + BIT_CASES + DATA_CASES + RUN_CASES
             + OUTPUT_PATH_CASES + SIZE_CASES + RECIPE_CASES)


@pytest.mark.parametrize("argv, fragment", ALL_CASES, ids=[" ".join(a)[:90] for a, _ in ALL_CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(argv, fragment, cwd, paths, capsys):
    assert_one_line_exit_2(expand(argv, paths), cwd, capsys, fragment)


@pytest.mark.parametrize("argv", [
    ["explore", "--budget-mb", "a\nb"],
    ["train", "--neurons", "1\n2", "--out", "r"],
    ["train", "--quant", "weights=Q0.8\nvmem=Q7.8", "--out", "r"],
    ["train", "--quant", "bias\n=Q0.8", "--out", "r"],
    ["train", "--set", "input.dt_ms=1\n2", "--out", "r"],
    ["train", "--data-dir", "{OUT}/no\nsuch", "--out", "r"],
    ["evaluate", "{OUT}/no\nrun"],
    ["cost", "--design", "fspinn", "--neurons", "10", "--profile", "no\nsuch"],
    ["cost", "--design", "fspinn", "--neurons", "10", "--quant", "weights=Q\n0.8"],
    ["train", "--out", "r", "unexpected\nextra"],
])
def test_line_breaks_in_what_was_typed_stay_on_one_line(argv, cwd, paths, capsys):
    assert_one_line_exit_2(expand(argv, paths), cwd, capsys)


# --------------------------------------------------------------------------- explore and the search space


@pytest.mark.parametrize("argv", [
    ["explore", "--space", "design=fspinn\nbaseline", "--show-space"],
    ["explore", "--space", "design\nx=fspinn", "--show-space"],
    ["explore", "--fidelities", "0.5\n1", "--budget-mb", "1", "--show-space"],
])
def test_search_messages_keep_one_line(argv, cwd, capsys):
    assert_one_line_exit_2(argv, cwd, capsys)


def test_space_refuses_a_range_with_too_many_values():
    from dse.search.space import DEFAULT_SPACE, SpaceError

    with pytest.raises(SpaceError):
        DEFAULT_SPACE.restricted({"rho": "0..16:1e-12"})


def test_explore_refuses_an_out_file_before_searching(cwd, paths, capsys, monkeypatch):
    from dse.cli import explore as explore_cli
    from dse.search.synthetic import SyntheticEvaluator

    monkeypatch.setattr(explore_cli, "_make_evaluator", lambda args: SyntheticEvaluator())
    assert_one_line_exit_2(["explore", "--budget-mb", "1", "--trials", "1", "--space", "design=baseline",
                             "--space", "neurons=100", "--out", paths["A_FILE"]], cwd, capsys, "--out")
