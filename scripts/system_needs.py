"""What the test suite needs from the system, and the exact commands that provide it.

    .venv/bin/python -m scripts.system_needs chromium         # make test-sqlite / test-postgres
    .venv/bin/python -m scripts.system_needs spamassassin     # make test-sqlite / test-postgres
    .venv/bin/python -m scripts.system_needs services URL     # make test-postgres

`chromium` makes sure Debian's Chromium is at /usr/bin/chromium for the browser tests, and
`spamassassin` that Debian's SpamAssassin is at /usr/bin/spamassassin for the offline content
check of the shipped email designs: as root it runs `apt-get install -y PACKAGE` (and
`apt-get update` first only if that fails); otherwise it stops with the command to run.
`services` checks that PostgreSQL answers at URL
and Redis at DRUMBEAT_TEST_REDIS before the PostgreSQL pass; when one does not, it says how to
start it, or how to run only the SQLite pass. Exit status: 0 ready, 1 missing (the pass must
stop), 3 PostgreSQL missing without CI=true (the Makefile skips the pass, loudly).

The root conftest.py imports the fix texts from here, so a skip names the same commands.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
SPAMASSASSIN = "/usr/bin/spamassassin"
REDIS_URL = os.environ.get("DRUMBEAT_TEST_REDIS", "redis://127.0.0.1:6379")
SKIP_PASS = 3


def is_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _sudo() -> str:
    return "" if os.geteuid() == 0 else "sudo "


def chromium_install_command() -> str:
    return install_command("chromium")


def postgres_start_command() -> str:
    """The command that starts (or installs) the local PostgreSQL server on this machine."""
    versions = sorted(p.name for p in Path("/etc/postgresql").glob("*") if p.is_dir())
    if not versions:
        return f"{_sudo()}apt-get install -y postgresql"
    if Path("/run/systemd/system").exists():
        return f"{_sudo()}systemctl start postgresql"
    return f"{_sudo()}pg_ctlcluster --skip-systemctl-redirect {versions[-1]} main start"


def redis_start_command() -> str:
    if not shutil.which("redis-server"):
        return f"{_sudo()}apt-get install -y redis-server"
    if Path("/run/systemd/system").exists():
        return f"{_sudo()}systemctl start redis-server"
    return 'redis-server --daemonize yes --port 6379 --save "" --appendonly no'


# Skip reasons of the suite (their first words) and what fixes them; the conftest's summary.
SKIP_FIXES = {
    f"{CHROMIUM} is not installed": chromium_install_command,
    f"{SPAMASSASSIN} is not installed": lambda: install_command("spamassassin"),
    "Redis unreachable": redis_start_command,
    "no PostgreSQL server binaries": lambda: f"{_sudo()}apt-get install -y postgresql",
    "spamassassin is not installed": lambda: f"{_sudo()}apt-get install -y spamassassin",
}


def fix_for(reason: str) -> str | None:
    for start, command in SKIP_FIXES.items():
        if reason.startswith(start):
            return command()
    return None


# --- system packages -----------------------------------------------------------------------------

# name -> (the file the tests run, Debian's package, what needs it)
PACKAGES: dict[str, tuple[str, str, str]] = {
    "chromium": (CHROMIUM, "chromium", "The browser tests need Chromium"),
    "spamassassin": (
        SPAMASSASSIN,
        "spamassassin",
        "The content check of the shipped email designs needs SpamAssassin",
    ),
}


def install_command(name: str) -> str:
    return f"{_sudo()}apt-get install -y {PACKAGES[name][1]}"


def ensure_package(name: str) -> int:
    path, package, who = PACKAGES[name]
    if Path(path).exists():
        return 0
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"{path} is missing: installing Debian's {package}")
        if _apt_install(package, path) or (_apt_update() and _apt_install(package, path)):
            return 0
    return _stop_without(name)


def ensure_chromium() -> int:
    return ensure_package("chromium")


def _apt_install(package: str, path: str) -> bool:
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(command, env=env).returncode == 0 and Path(path).exists()


def _apt_update() -> bool:
    return subprocess.run(["apt-get", "update", "-q"]).returncode == 0


def _stop_without(name: str) -> int:
    path, _package, who = PACKAGES[name]
    if shutil.which("apt-get"):
        how = f"run: {install_command(name)}"
    else:
        how = f"install it so that {path} exists (the tests run that file)"
    print(
        f"\n{who} at {path}, and it is not installed.\n"
        f"  To install it, {how}\n  then run the same make command again.\n",
        file=sys.stderr,
    )
    return 1


# --- services -------------------------------------------------------------------------------------


def check_services(url: str) -> int:
    problem = _postgres_problem(url)
    if problem:
        return _report_postgres(url, problem)
    redis_problem = _redis_problem()
    if redis_problem:
        _report_redis(redis_problem)
        if is_ci():
            return 1
    return 0


def _postgres_problem(url: str) -> str | None:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return None


def _redis_problem() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        return str(exc)
    return None


def _report_postgres(url: str, problem: str) -> int:
    if "does not exist" in problem:
        database = url.rsplit("/", 1)[-1]
        start = f"Create it:                createdb -h 127.0.0.1 -U postgres {database}"
    else:
        start = f"Start it:                 {postgres_start_command()}"
    verdict = "is required with CI=true" if is_ci() else "is not available: PostgreSQL pass SKIPPED"
    print(
        f"\nPostgreSQL at {url} {verdict}.\n  ({problem})\n"
        f"  {start}\n"
        f"  or use another server:    make test PG_TEST_URL=postgresql://USER@HOST:PORT/DB\n"
        f"  or run only SQLite:       make test-sqlite\n",
        file=sys.stderr,
    )
    return 1 if is_ci() else SKIP_PASS


def _report_redis(problem: str) -> None:
    verdict = "is required with CI=true" if is_ci() else "is unreachable: its tests will be SKIPPED"
    print(
        f"\nRedis at {REDIS_URL} (Celery tests of the PostgreSQL pass) {verdict}.\n"
        f"  ({problem})\n  Start it:                 {redis_start_command()}\n"
        f"  or point at another one:  DRUMBEAT_TEST_REDIS=redis://HOST:PORT make test\n",
        file=sys.stderr,
    )


def main(argv: list[str]) -> int:
    if len(argv) == 1 and argv[0] in PACKAGES:
        return ensure_package(argv[0])
    if argv[:1] == ["services"] and len(argv) == 2:
        return check_services(argv[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
