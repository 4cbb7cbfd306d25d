"""manage.py as an operator runs it: a real process, on SQLite and on MariaDB."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from manage import build_parser
from shared.config.settings import PROJECT_ROOT
from shared.db.tables import encounters, users
from tests.support.databases import MySqlTestDatabase


def run(data_dir: Path, *args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MIA_")}
    env["MIA_DATA_DIR"] = str(data_dir)
    if database_url:
        env["MIA_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


ENCOUNTER_ARGS = [
    "create-encounter",
    "--clinician",
    "drjones",
    "--name",
    "Philomena Ravenscroft",
    "--dob",
    "1975-02-28",
    "--nhs-number",
    "943 476 5919",
    "--phone",
    "07700 900456",
    "--note",
    "Photos of the wound on your right heel",
]


def test_embedded_flow_and_raw_file_holds_no_patient_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    assert run(data_dir, "init").returncode == 0
    assert (data_dir / "keys.json").exists() and (data_dir / "objects").is_dir()
    user = run(data_dir, "create-user", "--username", "drjones", "--name", "Dr Jones", "--role", "clinician")
    assert user.returncode == 0, user.stderr
    assert "http://localhost:8501/?enroll=" in user.stdout
    created = run(data_dir, *ENCOUNTER_ARGS)
    assert created.returncode == 0, created.stderr
    link = created.stdout.strip().splitlines()[-1]
    assert link.startswith("http://localhost:8080/p/")

    raw = b"".join(path.read_bytes() for path in data_dir.glob("mia.sqlite3*"))
    for plaintext in ("Philomena", "Ravenscroft", "1975-02-28", "9434765919", "7700900456", "right heel"):
        assert plaintext.encode() not in raw, plaintext
    assert link.rsplit("/", 1)[1].encode() not in raw

    rotated = run(data_dir, "rotate-keys", "--retire")
    assert rotated.returncode == 0, rotated.stderr
    assert "retired keys no value uses: k" in rotated.stdout
    assert run(data_dir, "purge-expired").returncode == 0


def test_init_leaves_the_data_directory_to_its_owner(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    previous = os.umask(0o022)  # the usual default; the child inherits it
    try:
        assert run(data_dir, "init").returncode == 0
    finally:
        os.umask(previous)
    modes = {path.name: path.stat().st_mode & 0o777 for path in [data_dir, *data_dir.iterdir()]}
    assert modes == {"var": 0o700, "objects": 0o700, "keys.json": 0o600, "mia.sqlite3": 0o600}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create-user", "--username", "x", "--name", "X", "--role", "clinician"], "error: A username has"),
        (ENCOUNTER_ARGS, "error: no user named 'drjones'"),
        ([*ENCOUNTER_ARGS[:-4], "--nhs-number", "1234567890"], "error: That NHS number is not valid"),
        ([*ENCOUNTER_ARGS[:7], "--dob", "28/02/1975"], "error: Enter the date of birth as YYYY-MM-DD"),
    ],
)
def test_errors_are_one_line_and_non_zero(tmp_path: Path, args: list[str], message: str) -> None:
    assert run(tmp_path / "var", "init").returncode == 0
    result = run(tmp_path / "var", *args)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1


def test_unmigrated_database_is_named_as_the_problem(tmp_path: Path) -> None:
    result = run(tmp_path / "var", *ENCOUNTER_ARGS)
    assert result.returncode == 2
    assert result.stderr == "error: the database schema is not up to date; run: python manage.py migrate\n"


def test_bad_configuration_fails_at_start(tmp_path: Path) -> None:
    env_run = subprocess.run(
        [sys.executable, "manage.py", "migrate"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "MIA_DATA_DIR": str(tmp_path), "MIA_STORAGE_URL": "ftp://nowhere"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert env_run.returncode == 2
    assert (
        env_run.stderr.strip()
        == "error: MIA_STORAGE_URL: expected file:///ABSOLUTE/PATH or s3://BUCKET/PREFIX, got 'ftp://nowhere'"
    )


@pytest.mark.mysql
def test_create_encounter_on_mariadb(tmp_path: Path, mysql_database: MySqlTestDatabase, mysql_engine: Engine) -> None:
    url = mysql_database.engine.url.render_as_string(hide_password=False)
    data_dir = tmp_path / "var"
    assert run(data_dir, "migrate", database_url=url).returncode == 0
    assert (
        run(
            data_dir, "create-user", "--username", "drjones", "--name", "Dr J", "--role", "clinician", database_url=url
        ).returncode
        == 0
    )
    created = run(data_dir, *ENCOUNTER_ARGS, database_url=url)
    assert created.returncode == 0, created.stderr
    with mysql_engine.connect() as conn:
        assert conn.execute(select(users.c.username)).scalar() == "drjones"
        row = conn.execute(select(encounters.c.patient_name, encounters.c.nhs_number_index)).one()
    assert b"Philomena" not in row.patient_name and len(row.nhs_number_index) == 64


@pytest.mark.parametrize("value", ["٥", "-5", "1_0", "5.0"])
def test_counts_on_the_command_line_are_digits_0_to_9(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["purge-expired", "--every", value])
    assert "expected a whole number (digits 0-9)" in capsys.readouterr().err
    assert build_parser().parse_args(["purge-expired", "--every", "60"]).every == 60
