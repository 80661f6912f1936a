"""Optuna studies of `dse explore`: create or resume, check identity, read back.

A study records in its user attributes everything that decides what its
trials mean (``dse_identity``: space, budgets, phase, profile, seed, strategy,
fidelities, data); rerunning the same command loads it (``load_if_exists``) and
continues, and a name that exists with another identity is an error rather
than a silent mix. The storage is any Optuna RDB URL (SQLite by default);
nothing is pickled.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

from .objectives import DIRECTIONS, OBJECTIVES

__all__ = ["StudyError", "DEFAULT_STORAGE", "open_study", "load_existing_study", "mask_url", "slug",
           "default_study_name", "fail_stale_trials"]

DEFAULT_STORAGE = "sqlite:///reports/explore.db"
IDENTITY_ATTR = "dse_identity"


class StudyError(ValueError):
    """A study is missing, or exists with other settings; the message is one line."""


def mask_url(url: str | None) -> str:
    """The storage URL with any password replaced by ***."""
    if url is None:
        return "in-memory storage"
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


def slug(name: str) -> str:
    """A file-system-safe form of a study name (for output folders)."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return s[:100] or "study"


def _fmt(x: float) -> str:
    return f"{x:g}".replace("+", "")


def default_study_name(strategy: str, dataset: str, budget_mb: float, budget_mj: float | None, phase: str,
                       profile: str) -> str:
    name = f"{dataset}-{_fmt(budget_mb)}mb"
    if budget_mj is not None:
        name += f"-{_fmt(budget_mj)}mj"
    return f"{name}-{phase}-{Path(profile).stem}-{strategy}"


def _storage(url: str | None):
    import optuna

    if url is None:
        return optuna.storages.InMemoryStorage()
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and ":memory:" not in url:
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    elif url.startswith("sqlite:////"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    try:
        storage = optuna.storages.RDBStorage(url)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many types; report one line
        raise StudyError(f"cannot open storage {mask_url(url)}: {str(exc).splitlines()[0]}") from None
    if url.startswith("sqlite:") and ":memory:" not in url:
        _fast_sqlite(storage.engine)
    return storage


def _fast_sqlite(engine: Any) -> None:
    """WAL journal, fsync at checkpoints only: a trial writes a few dozen small rows, and with the
    default journal every one of them waits for the disk. WAL also lets readers (a report, a
    dashboard) look while a search writes. A crash may lose the last commits, never the file."""
    from sqlalchemy import event

    def pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    event.listen(engine, "connect", pragmas)
    engine.dispose()  # connections opened before the listener get the pragmas when reopened


def _canonical(obj: Any) -> Any:
    return json.loads(json.dumps(obj, sort_keys=True))


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _differences(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def open_study(storage: str | None, name: str, identity: dict[str, Any], *, sampler: Any = None,
               storage_obj: Any = None):
    """Create the study, or load it if it exists with the same identity (StudyError otherwise)."""
    import optuna

    store = storage_obj if storage_obj is not None else _storage(storage)
    ident = _canonical(identity)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(storage=store, study_name=name, sampler=sampler,
                                    directions=list(DIRECTIONS), load_if_exists=True)
    existing = study.user_attrs.get(IDENTITY_ATTR)
    if existing is None:
        if study.trials:
            raise StudyError(f"study '{name}' in {mask_url(storage)} was not made by `dse explore`; "
                             "choose another --study-name")
        if [d.name.lower() for d in study.directions] != list(DIRECTIONS):
            raise StudyError(f"study '{name}' has other objectives; choose another --study-name")
        study.set_user_attr(IDENTITY_ATTR, ident)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(OBJECTIVES))  # names shown by optuna-dashboard
    elif existing != ident:
        diff = _differences(existing, ident)
        shown = ", ".join(diff[:4]) + (f" and {len(diff) - 4} more" if len(diff) > 4 else "")
        raise StudyError(f"study '{name}' in {mask_url(storage)} exists with other settings ({shown}); "
                         "rerun with its original flags or choose another --study-name")
    return study


def load_existing_study(storage: str | None, name: str):
    """Load a study made by `dse explore` (StudyError naming the studies there otherwise)."""
    import optuna

    store = _storage(storage)
    try:
        study = optuna.load_study(study_name=name, storage=store)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(store)]
        there = ", ".join(sorted(names)[:10]) or "none"
        raise StudyError(f"no study '{name}' in {mask_url(storage)} (studies there: {there})") from None
    if IDENTITY_ATTR not in study.user_attrs:
        raise StudyError(f"study '{name}' in {mask_url(storage)} was not made by `dse explore`")
    return study


def identity_of(study: Any) -> dict[str, Any]:
    return study.user_attrs[IDENTITY_ATTR]


def fail_stale_trials(study: Any) -> list[dict[str, Any]]:
    """Mark trials left RUNNING by an interrupted run as failed; return their params to run again.

    One `dse explore` process drives a study at a time for now; with several
    workers (issue #6) heartbeats decide what is stale instead.
    """
    from optuna.trial import TrialState

    params = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(t.number, state=TrialState.FAIL)
        params.append(dict(t.params))
    return params
