"""Bad storage URLs and study names: one line, exit 2, nothing written, and never the password."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dse.cli.main import main
from dse.search.study import mask_url, scrub

SECRET = "pa55-w0rd"
SYN = ["--evaluator", "synthetic", "--space", "design=fspinn", "--space", "neurons=100..300", "--fidelities", "1"]


def _files(root):
    # SQLite's shared-memory and write-ahead files come and go with any reader of the database
    return sorted(p.relative_to(root) for p in root.rglob("*") if not p.name.endswith(("-shm", "-wal")))


def _one_line_error(capsys, argv, cwd) -> str:
    before = _files(cwd)
    code = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err + out, err
    assert SECRET not in out + err
    assert _files(cwd) == before  # nothing written
    return lines[0]


@pytest.mark.parametrize("url, words", [
    ("notaurl", "not a database URL"),
    ("postgresql//host/db", "not a database URL"),
    ("redis://localhost/0", "unknown database 'redis'"),
    (f"postgresql://user:{SECRET}@127.0.0.1:notaport/db", "malformed"),
    (f"postgresql://user:{SECRET}@127.0.0.1:1/db", "cannot open storage"),  # nothing listens on port 1
    (f"postgresql://user@127.0.0.1:1/db?password={SECRET}", "cannot open storage"),
])
@pytest.mark.parametrize("command", ["explore", "worker", "report"])
def test_bad_storage_is_one_line_without_the_password(tmp_path, capsys, monkeypatch, url, words, command):
    monkeypatch.chdir(tmp_path)
    argv = {"explore": ["explore", "--budget-mb", "1", *SYN, "--storage", url],
            "worker": ["worker", "--study-name", "s", "--storage", url],
            "report": ["report", "s", "--storage", url]}[command]
    line = _one_line_error(capsys, argv, tmp_path)
    assert words in line
    if "user:" in url:
        assert "user:***@" in line


def test_storage_from_the_environment_is_masked_too(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DSE_STORAGE", f"postgresql://user:{SECRET}@127.0.0.1:1/db")
    assert "user:***@" in _one_line_error(capsys, ["worker", "--study-name", "s"], tmp_path)


def test_missing_study_names_the_studies_there(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'db' / 's.db'}"
    assert main(["explore", "--budget-mb", "1", *SYN, "--trials", "2", "--storage", url, "--study-name", "made",
                 "--quiet"]) == 0
    capsys.readouterr()
    line = _one_line_error(capsys, ["worker", "--study-name", "other", "--storage", url], tmp_path)
    assert "no study 'other'" in line and "made" in line


def test_study_with_other_budgets_or_space_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'db' / 's.db'}"
    base = ["explore", *SYN, "--trials", "2", "--storage", url, "--study-name", "x", "--quiet"]
    assert main([*base, "--budget-mb", "1"]) == 0
    capsys.readouterr()
    assert "budgets.memory_mb" in _one_line_error(capsys, [*base, "--budget-mb", "2"], tmp_path)
    assert "space" in _one_line_error(capsys, [*base, "--budget-mb", "1", "--space", "rho=2"], tmp_path)


def test_worker_refuses_a_study_whose_data_it_does_not_have(tmp_path, capsys, monkeypatch):
    """A worker must reproduce the study's identity: here the study was made with other MNIST files."""
    import optuna

    from dse.search.study import IDENTITY_ATTR

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'db' / 's.db'}"
    assert main(["explore", "--budget-mb", "1", *SYN, "--trials", "1", "--storage", url, "--study-name", "d",
                 "--quiet"]) == 0
    capsys.readouterr()
    study = optuna.load_study(study_name="d", storage=url)
    ident = dict(study.user_attrs[IDENTITY_ATTR])
    ident["evaluator"] = {"evaluator": "snn", "dataset": "mnist", "data_sha256": "0" * 64, "train_images": 60,
                          "assign_samples": 60, "test_images": 40, "seed": 0}
    study.set_user_attr(IDENTITY_ATTR, ident)
    line = _one_line_error(capsys, ["worker", "--study-name", "d", "--storage", url, "--cache", "c"], tmp_path)
    assert "does not reproduce" in line and "data_sha256" in line and "--data-dir" in line


_PART = st.text(st.characters(codec="utf-8", exclude_characters="/@?#:\x00"), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=40).filter(lambda t: not t.lstrip().lower().startswith("sqlite")))
def test_fuzzed_storage_urls_fail_in_one_line(tmp_path, capsys, monkeypatch, url):
    monkeypatch.chdir(tmp_path)
    code = main(["report", "s", "--storage", url])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


# A password of asterisks would be "found" in the mask (***) itself.
_PASSWORD = _PART.filter(lambda p: set(p) != {"*"})


@settings(max_examples=100, deadline=None)
@given(user=_PART, password=_PASSWORD, host=_PART, rest=st.sampled_from(["", ":5432/db", "/db?sslmode=require"]))
def test_passwords_are_masked_and_scrubbed(user, password, host, rest):
    url = f"postgresql://{user}:{password}@{host}{rest}"
    masked = mask_url(url)
    assert masked == f"postgresql://{user}:***@{host}{rest}"
    assert password not in scrub(f"could not connect with {password} to {url}", url)
