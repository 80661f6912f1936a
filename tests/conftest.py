"""Shared fixtures: a throwaway PostgreSQL server on loopback for the distributed-search tests.

``postgres_url`` starts a private cluster (initdb + pg_ctl from Debian's
postgresql packages) in a temporary folder, with password authentication on
127.0.0.1, and stops it after the session. DSE_TEST_POSTGRES_URL points the
tests at an existing server instead. Without either the tests are skipped,
unless DSE_REQUIRE_POSTGRES=1 (set by CI), where they fail instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

PG_USER, PG_PASSWORD, PG_DB = "dse", "s3cret-Pw", "dse_test"


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unavailable(why: str) -> None:
    if os.environ.get("DSE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL required (DSE_REQUIRE_POSTGRES=1) but {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def postgres_url():
    given = os.environ.get("DSE_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        _unavailable("PostgreSQL server binaries (Debian package postgresql) are not installed")
    try:
        from sqlalchemy.engine import make_url

        make_url("postgresql://").get_dialect().import_dbapi()  # SQLAlchemy's default driver for postgresql://
    except ImportError as exc:
        _unavailable(f"the PostgreSQL driver {exc.name} is not installed (pip install 'snn-dse[postgres]')")
    # its own folder in the system temp dir: pytest's tmp folders are private to the test user (mode 700)
    root = Path(tempfile.mkdtemp(prefix="dse-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    pwfile = root / "pw"
    pwfile.write_text(PG_PASSWORD + "\n")
    prefix: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as Debian's postgres user
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
        shutil.chown(pwfile, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    run = lambda *cmd: subprocess.run([*prefix, *cmd], check=True, capture_output=True, text=True)  # noqa: E731
    try:
        run(initdb, "-D", str(data), "-U", PG_USER, f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
            "--auth-local=trust", "-E", "UTF8", "--no-sync")
        run(pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60", "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={sock} -c fsync=off "
            "-c max_connections=100", "start")
        run(_pg_bin("createdb") or "createdb", "-h", str(sock), "-p", str(port), "-U", PG_USER, PG_DB)
    except (subprocess.CalledProcessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        _unavailable(f"could not start a PostgreSQL server: {detail.strip().splitlines()[-1] if detail.strip() else exc}")
    try:
        yield f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{port}/{PG_DB}"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
