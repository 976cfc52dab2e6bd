"""The `drumbeat` command, run as a user would, in a data folder of its own."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from drumbeat import cli


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A data folder of its own, migrated (`manage createsuperuser` does not migrate), so that
    each test runs alone or in any order."""
    folder = tmp_path_factory.mktemp("drumbeat-home")
    migrated = drumbeat(folder, "manage", "migrate", "--verbosity", "0")
    assert migrated.returncode == 0, migrated.stderr
    return folder


def drumbeat(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DRUMBEAT_") and k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    environment.update(DRUMBEAT_HOME=str(home), **env)
    return subprocess.run(
        [sys.executable, "-m", "drumbeat.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_import_reports_bad_lines_and_exits_1(home, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("Name,Email\nAnn,ann@example.com\nBob,not-an-email\nCy,cy@example.com\n")

    result = drumbeat(home, "import", "contacts", str(path))

    assert result.returncode == 1, result.stderr
    assert "2 contacts created" in result.stdout
    assert "line 3: invalid email 'not-an-email'" in result.stderr
    assert "Traceback" not in result.stderr


def test_import_of_a_bad_file_says_why_without_traceback(home, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"Name,Email\nJos\xe9,j@example.com\n")

    result = drumbeat(home, "import", "contacts", str(path), "--quiet")

    assert result.returncode == 1
    assert "not UTF-8 text" in result.stdout
    assert "Traceback" not in result.stderr


def test_token_create_prints_a_token_for_an_existing_user(home):
    created = drumbeat(
        home,
        "manage",
        "createsuperuser",
        "--noinput",
        "--username",
        "root",
        "--email",
        "root@example.com",
        DJANGO_SUPERUSER_PASSWORD="a long password",
    )
    assert created.returncode == 0, created.stderr

    result = drumbeat(home, "token", "create", "root", "--name", "deploy")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("dbt_")


def test_token_create_refuses_an_unknown_user(home):
    result = drumbeat(home, "token", "create", "nobody")

    assert result.returncode == 1
    assert "No user named 'nobody'" in result.stderr


def test_manage_runs_django_commands(home):
    result = drumbeat(home, "manage", "check")

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_refuses_unknown_subcommands_and_kinds(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["import", "animals", "x.csv"])
    assert exc.value.code == 2
    assert "invalid choice: 'animals'" in capsys.readouterr().err
