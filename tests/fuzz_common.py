"""What the fuzz tests share: the repository, the bundled profile names, hypothesis settings, the one-line check.

The property of every fuzz test (test_fuzz_documents, test_fuzz_parsers,
test_fuzz_cli): the input is accepted and the result is usable, or it is
refused with the module's own error (a ValueError subclass) whose message is
one line -- never a KeyError, TypeError, OverflowError, ... And the CLI exits
0 or 2, with one line on stderr for 2, writing nothing.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from dse.models.fixedpoint import ROUNDING_MODES
from dse.models.quantize import QUANT_KEYS
from dse.models.recipes import DESIGNS

__all__ = ["REPO", "PROFILE_NAMES", "FUZZ", "CLI_FUZZ", "assert_one_line", "numberish", "digits", "format_like",
           "format_text", "quant_item", "quant_spec", "no_breaks", "space_text"]

REPO = Path(__file__).resolve().parents[1]
PROFILE_NAMES = sorted(p.stem for p in (REPO / "hw_profiles").glob("*.toml"))

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
CLI_FUZZ = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def assert_one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text and "\n" not in text and "\r" not in text, repr(text)


# Text strategies shared by the parser and CLI fuzz tests: numbers and near-numbers,
# Qi.f-like formats and --quant specs, one-line text, --space values.
numberish = st.one_of(
    st.integers(-(10**25), 10**25).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "1e400", "-1e400", "1e-400", "nan", "inf", "0x10", "1_000", "١٢", "3.", ".5", "1e3",
                     "true", "lateral", "fspinn"]),
)
digits = st.one_of(st.integers(-5, 70).map(str), st.integers(0, 10**30).map(str),
                    st.sampled_from(["", "*", "x", "1e3", "٣", " 8", "08", "+8", "-0"]))
format_like = st.builds(lambda p, i, f, sep: f"{p}{i}{sep}{f}",
                         st.sampled_from(["Q", "q", "sQ", "uQ", "SQ", "UQ", " Q", "Qx", "", "s", "QQ"]),
                         digits, digits, st.sampled_from([".", ".", ",", "..", ""]))
format_text = st.one_of(format_like, st.text(max_size=15))
quant_item = st.one_of(
    st.builds(lambda k, f: f"{k}={f}", st.sampled_from([*QUANT_KEYS, "WEIGHTS", " vmem ", "bias", ""]), format_text),
    st.text(max_size=12),
)
quant_spec = st.lists(quant_item, max_size=5).map(",".join)
no_breaks = st.text(max_size=20).filter(lambda t: "\n" not in t and "\r" not in t)
space_text = st.one_of(
    no_breaks,
    st.lists(numberish, min_size=1, max_size=3).map(",".join),
    st.builds(lambda a, b, c: f"{a}..{b}" + (f":{c}" if c else ""), numberish, numberish,
              st.one_of(st.just(""), numberish)),
    st.lists(st.sampled_from([*DESIGNS, "ptq", "itq", *ROUNDING_MODES, "nope", ""]), min_size=1,
             max_size=3).map(",".join),
)
