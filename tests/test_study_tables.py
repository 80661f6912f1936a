"""What a notebook gets from a study: scalar columns in trials_dataframe() and in trials.csv."""

from __future__ import annotations

import datetime as dt
import warnings

import optuna
import pytest

from dse.search.attrs import CONSTRAINT_ORDER, legacy_constraints, named_constraints
from dse.search.explore import explore, write_outputs
from dse.search.objectives import Budgets, ExploreSettings
from dse.search.space import DEFAULT_SPACE
from dse.search.synthetic import SyntheticEvaluator

pd = pytest.importorskip("pandas")

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
optuna.logging.set_verbosity(optuna.logging.WARNING)

# FP32 potentials and thresholds (32 bits) beside quantized weights: the bit columns mix both
SPACE = DEFAULT_SPACE.restricted({"neurons": "100..1500", "vmem_bits": "32", "vth_bits": "32"})
BITS = ("weights_bits", "inh_bits", "vmem_bits", "vth_bits")


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tables")
    storage = f"sqlite:///{tmp / 'explore.db'}"
    result = explore(ExploreSettings(Budgets(memory_mb=0.6, energy_mj=250.0), space=SPACE), SyntheticEvaluator(),
                     storage=storage, study_name="tables", n_trials=12)
    paths = write_outputs(result, tmp)
    return result, optuna.load_study(study_name="tables", storage=storage), paths


def test_trials_dataframe_has_scalar_result_columns(searched):
    result, study, _ = searched
    df = study.trials_dataframe()
    for col in ("accuracy", "accuracy_low", "accuracy_high", "memory_mb", "memory_fp32_mb", "energy_mj",
                "energy_floor_mj", "trainings", "trained_images", "images"):
        assert pd.api.types.is_numeric_dtype(df[f"user_attrs_{col}"]), (col, df[f"user_attrs_{col}"].dtype)
    assert df["user_attrs_feasible"].dtype == bool
    by_number = {r.number: r for r in result.records}
    for _, row in df.iterrows():
        r = by_number[row["number"]]
        assert row["user_attrs_status"] == r.status and row["user_attrs_feasible"] == r.feasible
        assert row["user_attrs_memory_mb"] == pytest.approx(r.memory_mb)
        if r.status == "complete":
            assert (row["user_attrs_accuracy_low"], row["user_attrs_accuracy_high"]) == pytest.approx(r.accuracy_ci95)
        else:
            assert pd.isna(row["user_attrs_accuracy"])
    sampled = df[df["user_attrs_sibling_of"].isna()]
    assert (sampled["user_attrs_worker_id"].str.len() > 0).all()


def test_the_dashboard_constraint_list_follows_the_named_constraints(searched):
    _, study, _ = searched
    statuses = set()
    for t in study.trials:
        named = named_constraints(t.system_attrs)
        listed = t.system_attrs["constraints"]
        statuses.add(t.user_attrs["status"])
        assert listed == legacy_constraints(named) == [named[n] for n in CONSTRAINT_ORDER if n in named]
        assert (all(v <= 0 for v in listed) and t.state.name == "COMPLETE") == (
            t.user_attrs["feasible"] or t.user_attrs["status"] == "duplicate")
    assert {"complete", "rejected"} <= statuses
    assert legacy_constraints({"min_accuracy": 0.1, "memory_mb": -1.0}) == [-1.0, 0.1]  # order, not insertion


def test_trials_csv_columns_are_numeric_and_timed(searched):
    result, _, paths = searched
    df = pd.read_csv(paths["trials"])
    for col in BITS + ("neurons", "accuracy", "memory_mb", "energy_mj", "trainings", "number"):
        assert pd.api.types.is_numeric_dtype(df[col]), (col, df[col].dtype)
    assert df["feasible"].dtype == bool
    quantized = df.dropna(subset=["weights_bits"])
    assert set(quantized["vmem_bits"]) == {32} and set(quantized["vth_bits"]) == {32}  # FP32 written as 32
    assert (quantized["weights_bits"] <= 32).all()
    started = pd.to_datetime(df["started"])
    completed = pd.to_datetime(df["completed"])
    assert started.notna().all() and (completed >= started).all()
    assert started.dt.tz is not None  # with the offset, not naive local time
    assert (started - pd.Timestamp.now(tz=dt.timezone.utc)).abs().max() < pd.Timedelta(hours=1)
    assert df["worker"].notna().all() and df["worker"].nunique() == 1  # one process; siblings name their parent's
    assert len(df) == len(result.records)
