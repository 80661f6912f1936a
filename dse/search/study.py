"""Optuna studies of `dse explore`: create or resume, check identity, read back.

A study records in its user attributes everything that decides what its
trials mean (``dse_identity``: space, budgets, phase, profile, seed, strategy,
fidelities, data); rerunning the same command loads it (``load_if_exists``) and
continues, and a name that exists with another identity is an error rather
than a silent mix. The storage is any Optuna RDB URL: SQLite by default (one
machine, any number of processes), PostgreSQL for workers on several machines;
storages record heartbeats, and trials whose worker died are retried
(:mod:`dse.search.liveness`). Nothing is pickled, and passwords in URLs are
masked in everything shown or written.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

from dse.errors import Param, ParameterError

from .attrs import write_study_attrs
from .liveness import DEFAULT_HEARTBEAT_S, grace_s, retry_callback
from .objectives import DIRECTIONS, OBJECTIVES

__all__ = ["StudyError", "DEFAULT_STORAGE", "open_study", "load_existing_study", "mask_url", "scrub", "slug",
           "default_study_name", "differences_text", "heartbeat_of", "identity_of", "set_target", "target_of"]

DEFAULT_STORAGE = "sqlite:///reports/explore.db"
IDENTITY_ATTR = "dse_identity"


class StudyError(ParameterError):
    """A study is missing, or exists with other settings; the message is one line."""


def mask_url(url: str | None) -> str:
    """The storage URL with any password (in the user part or a ``password=`` query) replaced by ***."""
    if url is None:
        return "in-memory storage"
    url = re.sub(r"(//[^/@?#]*?:)[^/@?#]*@", r"\1***@", url)
    return re.sub(r"([?&](?:password|passwd|pwd)=)[^&#]*", r"\1***", url, flags=re.IGNORECASE)


def url_password(url: str | None) -> str | None:
    """The password written in a storage URL, if any (to scrub it from messages of other libraries)."""
    if not url:
        return None
    m = re.search(r"//[^/@?#]*?:([^/@?#]*)@", url) or re.search(r"[?&](?:password|passwd|pwd)=([^&#]*)", url,
                                                              flags=re.IGNORECASE)
    return m.group(1) if m and m.group(1) else None


def scrub(text: str, url: str | None) -> str:
    """``text`` with the URL's password replaced by *** wherever it appears (raw or %-decoded)."""
    from urllib.parse import unquote

    secret = url_password(url)
    for form in {secret, unquote(secret)} if secret else ():
        text = text.replace(form, "***")
    return text


def slug(name: str) -> str:
    """A file-system-safe form of a study name (for output folders)."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return s[:100] or "study"


def _fmt(x: float) -> str:
    return f"{x:g}".replace("+", "")


def default_study_name(strategy: str, dataset: str, budget_mb: float, budget_mj: float | None, phase: str,
                       profile: str, evaluator: str = "snn") -> str:
    """The name a study gets without one given. A synthetic try-out is named apart (``...-synthetic``), so
    it never blocks the real search of the same budgets; snn names are unchanged, so their studies resume."""
    name = f"{dataset}-{_fmt(budget_mb)}mb"
    if budget_mj is not None:
        name += f"-{_fmt(budget_mj)}mj"
    name = f"{name}-{phase}-{Path(profile).stem}-{strategy}"
    return name if evaluator == "snn" else f"{name}-{evaluator}"


def _storage(url: str | None, heartbeat_s: int | None = DEFAULT_HEARTBEAT_S, *, create: bool = True):
    """An Optuna storage for the URL, with heartbeats and retry of trials whose worker died.

    ``create=False`` (for studies that must exist) refuses a SQLite file that does not exist, rather
    than leaving an empty database, and its folders, behind.
    """
    import optuna

    if url is None:
        return optuna.storages.InMemoryStorage()
    _check_url(url)
    if url.startswith("sqlite:///") and ":memory:" not in url:
        _sqlite_file(url, create)
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:"):
        # several processes on one machine share a SQLite file: wait for the lock, never fail on it
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 120}}
    elif url.startswith(("postgresql", "mysql")):
        kwargs["engine_kwargs"] = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    if heartbeat_s and ":memory:" not in url:
        kwargs.update(heartbeat_interval=heartbeat_s, grace_period=grace_s(heartbeat_s),
                      heartbeat_stale_trial_callback=retry_callback())
    storage = _open_rdb(url, kwargs)
    if url.startswith("sqlite:") and ":memory:" not in url:
        _fast_sqlite(storage.engine)
    return storage


# Two processes making the tables of a new database at once collide (a table "already exists", the
# schema version row is inserted twice). Every step of the making is idempotent, so the process that
# lost the race opens the storage again and finds it made.
_CREATION_RACE = ("already exists", "unique constraint failed", "duplicate key")
_OPEN_TRIES = 8


def _open_rdb(url: str, kwargs: dict[str, Any]):
    import random
    import time

    import optuna

    for attempt in range(1, _OPEN_TRIES + 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return optuna.storages.RDBStorage(url, **kwargs)
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy and the drivers raise many types; report one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if attempt == _OPEN_TRIES or not any(m in first.lower() for m in _CREATION_RACE):
                raise StudyError(f"cannot open storage {mask_url(url)}: {scrub(first, url)}") from None
            time.sleep(random.uniform(0.05, 0.3) * attempt)


def _sqlite_file(url: str, create: bool) -> None:
    """The folders of a SQLite file, made if ``create``; a file in their way is one line."""
    path = Path(url[len("sqlite:///"):])
    for p in path.parents:
        if p.is_dir():
            break
        if p.exists() or p.is_symlink():
            raise StudyError(Param("storage"), f" {mask_url(url)}: {p} exists and is not a folder; choose another "
                             "path")
    if not create and not path.is_file():
        raise StudyError(Param("storage"), f" {mask_url(url)}: no such database file (give the storage the study "
                         "was made in)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StudyError(Param("storage"), f" {mask_url(url)}: cannot make {path.parent} ({exc.strerror}); "
                         "choose another path") from None


def _check_url(url: str) -> None:
    """Malformed URLs and missing database drivers fail here, with how to fix them."""
    from sqlalchemy.engine import make_url

    m = re.match(r"^([a-z][a-z0-9]*)(\+[a-z0-9_]+)?://", url)
    if not m:
        raise StudyError(f"storage {mask_url(url)!r} is not a database URL: write sqlite:///path/to/file.db or "
                         "postgresql://user@host:5432/dbname")
    dialect = m.group(1)
    if dialect not in ("sqlite", "postgresql", "mysql"):
        raise StudyError(f"storage {mask_url(url)}: unknown database '{dialect}'; use sqlite:/// (one machine) "
                         "or postgresql:// (several)")
    try:
        make_url(url).get_dialect().import_dbapi()
    except ImportError as exc:
        how = "pip install 'snn-dse[postgres]'" if dialect == "postgresql" else "install its Python driver"
        raise StudyError(f"storage {mask_url(url)}: the database driver is not installed ({exc.name or exc}); "
                         f"{how}") from None
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy's URL errors: report one line
        raise StudyError(f"storage {mask_url(url)} is malformed: {scrub(str(exc).splitlines()[0], url)}") from None


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


def differences_text(a: Any, b: Any) -> str:
    """The keys where two identities differ, for a one-line message (at most four named)."""
    diff = _differences(a, b)
    return ", ".join(diff[:4]) + (f" and {len(diff) - 4} more" if len(diff) > 4 else "")


def open_study(storage: str | None, name: str, identity: dict[str, Any], *, sampler: Any = None,
               storage_obj: Any = None, heartbeat_s: int | None = DEFAULT_HEARTBEAT_S):
    """Create the study, or load it if it exists with the same identity (StudyError otherwise)."""
    import optuna

    store = storage_obj if storage_obj is not None else _storage(storage, heartbeat_s)
    ident = _canonical(identity)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(storage=store, study_name=name, sampler=sampler,
                                    directions=list(DIRECTIONS), load_if_exists=True)
    existing = study.user_attrs.get(IDENTITY_ATTR)
    if existing is None:
        if study.trials:
            raise StudyError(f"study '{name}' in {mask_url(storage)} was not made by `dse explore`; choose another ",
                             Param("study_name"))
        if [d.name.lower() for d in study.directions] != list(DIRECTIONS):
            raise StudyError(f"study '{name}' has other objectives; choose another ", Param("study_name"))
        study.set_user_attr(IDENTITY_ATTR, ident)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(OBJECTIVES))  # names shown by optuna-dashboard
        # Another process may have made the same new study at once and set its own identity last.
        existing = study.user_attrs.get(IDENTITY_ATTR)
    if existing != ident:
        raise StudyError(f"study '{name}' in {mask_url(storage)} exists with other settings "
                         f"({differences_text(existing, ident)}); "
                         "rerun with its original settings or choose another ", Param("study_name"))
    write_study_attrs(study, ident)  # budgets as flat attributes, for optuna-dashboard and notebooks
    return study


def load_existing_study(storage: str | None, name: str, heartbeat_s: int | None = DEFAULT_HEARTBEAT_S):
    """Load a study made by `dse explore` (StudyError naming the studies there otherwise)."""
    import optuna

    store = _storage(storage, heartbeat_s, create=False)
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


TARGET_ATTR = "dse_target"
HEARTBEAT_ATTR = "dse_heartbeat_s"


def heartbeat_of(study: Any) -> int:
    """The study's heartbeat interval: every process of a study beats and judges staleness alike."""
    return int(study.user_attrs.get(HEARTBEAT_ATTR) or DEFAULT_HEARTBEAT_S)


def set_target(study: Any, n_trials: int | None) -> None:
    """Record how many trained trials the study aims at, so that workers joining it know when to stop."""
    if n_trials is not None and study.user_attrs.get(TARGET_ATTR) != n_trials:
        study.set_user_attr(TARGET_ATTR, n_trials)


def target_of(study: Any) -> int | None:
    return study.user_attrs.get(TARGET_ATTR)
