"""`make bench`: every figure next to the raw limit of this machine, measured in the same run.

    python -m bench.run [--size N] [--only sqlite|postgres]

For SQLite and for PostgreSQL (skipped with a note when unreachable): a fresh database is
created, migrated and seeded with N contacts and N leads, then each case of bench/cases.py (and
the enrolment paths of bench/cases_paths.py; on PostgreSQL also the pages of a campaign of N
participants and 2N traces, bench/cases_pages.py) runs in its own process (so its peak RSS is
its own). Prints a table and writes bench/results/latest.md and latest.json, and the same as
size-N.md / size-N.json. Above 1,000,000 records (LARGE) only the cases that grow with N run,
on PostgreSQL: enrolment, the two bulk actions and the pages (`make bench SIZE=10000000`).

Environment: BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/drumbeat_bench; the
database is dropped and re-created), BENCH_REDIS_URL (default redis://127.0.0.1:6379: the
first empty database number is used for the Celery and recovery cases, which are skipped
without Redis).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.common import RESULTS, ROOT

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/drumbeat_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
CASES = ["enrol", "add_tag", "set_priority", "email", "email_capped", "tracking", "latency"]
# The enrolment paths of a user (bench/cases_paths.py), run after the cases above.
PATH_CASES = ["enrol_start", "enrol_import", "enrol_sync"]
# Every kind of server action on up to 100,000 contacts (bench/cases_actions.py).
ACTION_CASES = ["actions"]
# PostgreSQL only: the pages of a campaign of N participants and 2N traces (bench/cases_pages.py).
PAGE_CASES = ["pages"]
# Above LARGE records a run without --only or --cases measures what grows with the size on the
# scale-out database: the database-only cases and the pages, on PostgreSQL. The SQLite half and
# the email, tracking and Celery cases (a fixed 5,000 messages or requests whatever the size)
# keep the default run's figures.
LARGE = 1_000_000
LARGE_CASES = ["enrol", "add_tag", "set_priority", "pages"]

GOALS = {
    "enrol": ("≥ 0.5 × raw", lambda r: (r["ratio"] or 0) >= 0.5),
    "enrol_start": ("≥ 0.5 × raw", lambda r: (r["ratio"] or 0) >= 0.5),
    "enrol_import": ("≥ 0.5 × raw", lambda r: (r["ratio"] or 0) >= 0.5),
    "enrol_sync": ("≥ 0.5 × raw", lambda r: (r["ratio"] or 0) >= 0.5),
    "add_tag": ("≥ 0.3 × raw", lambda r: (r["ratio"] or 0) >= 0.3),
    "set_priority": ("≥ 0.3 × raw", lambda r: (r["ratio"] or 0) >= 0.3),
    "add_tag@postgres": ("≥ 0.4 × raw", lambda r: (r["ratio"] or 0) >= 0.4),
    "set_priority@postgres": ("≥ 0.4 × raw", lambda r: (r["ratio"] or 0) >= 0.4),
    "email": ("≥ 0.5 × raw", lambda r: (r["ratio"] or 0) >= 0.5),
    "email_capped": ("≥ 0.8 × without caps", lambda r: (r["ratio"] or 0) >= 0.8),
    "tracking": ("≥ 0.6 × bare Django app", lambda r: (r["ratio"] or 0) >= 0.6),
    "latency": ("p99 ≤ 2 s", lambda r: r["p99"] <= 2.0),
    "pages": ("p95 ≤ 1 s", lambda r: r["p95"] <= 1.0),
    "celery_2": ("≥ 1.7 × 1 worker", lambda r: (r["ratio"] or 0) >= 1.7),
    "recovery": ("≤ 60 s after the kill", lambda r: (r["seconds"] or 1e9) <= 60),
}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def case_module(case: str) -> str:
    if case in PAGE_CASES:
        return "bench.cases_pages"
    if case in ACTION_CASES:
        return "bench.cases_actions"
    return "bench.cases_paths" if case in PATH_CASES else "bench.cases"


def run_case(case: str, size: int, env: dict) -> list[dict]:
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", case_module(case), case, str(size)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        log(out.stdout[-2000:] + out.stderr[-4000:])
        return [{"case": case, "error": (out.stderr.strip().splitlines() or ["failed"])[-1]}]
    data = json.loads(lines[-1][len("RESULT ") :])
    rows = data.get("rows", [data])
    for row in rows:
        row["wall_seconds"] = round(time.monotonic() - started, 1)
    return rows


def pg_available() -> str:
    import psycopg

    parts = urlsplit(PG_URL)
    admin = urlunsplit(parts._replace(path="/postgres"))
    name = parts.path.lstrip("/")
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
            version = conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.Error as exc:
        log(f"PostgreSQL unavailable ({exc}); skipping the PostgreSQL cases")
        return ""
    return version


def pg_drop() -> None:
    import psycopg

    parts = urlsplit(PG_URL)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def free_redis_db() -> str:
    import redis

    for number in range(15, 0, -1):
        client = redis.Redis.from_url(f"{REDIS_URL}/{number}")
        try:
            if client.dbsize() == 0 and client.set("drumbeat:bench", os.getpid(), nx=True, ex=3600):
                return f"{REDIS_URL}/{number}"
        except redis.RedisError as exc:
            log(f"Redis unavailable ({exc}); skipping the Celery case")
            return ""
    log("no empty Redis database; skipping the Celery case")
    return ""


def bench_database(kind: str, size: int, only_cases: list[str] | None = None) -> list[dict]:
    home = Path(tempfile.mkdtemp(prefix=f"drumbeat-bench-{kind}-"))
    env = {
        **os.environ,
        "DRUMBEAT_HOME": str(home),
        "DJANGO_SETTINGS_MODULE": "drumbeat.settings",
        "DRUMBEAT_EMAIL_URL": "outbox://",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DRUMBEAT_BROKER_URL", None)
    cases = [*CASES, *PATH_CASES, *ACTION_CASES]
    if kind == "postgres":
        version = pg_available()
        if not version:
            return []
        env["DATABASE_URL"] = PG_URL
        cases += PAGE_CASES
        broker = free_redis_db()
        if broker:
            env["BENCH_BROKER_URL"] = broker
            cases += ["celery", "recovery"]
        database = f"PostgreSQL {version}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{home / 'bench.sqlite3'}"
        import sqlite3

        database = f"SQLite {sqlite3.sqlite_version}"
    if only_cases:
        cases = [case for case in cases if case in only_cases]
    rows: list[dict] = []
    try:
        log(f"[{kind}] migrate + seed {size:,} contacts and leads")
        subprocess.run(
            [sys.executable, "-m", "drumbeat.cli", "manage", "migrate", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        seeded = run_case("seed", size, env)
        if "error" in seeded[0]:
            raise RuntimeError(f"seeding failed: {seeded[0]['error']}")
        for case in cases:
            log(f"[{kind}] {case}")
            for row in run_case(case, size, env):
                row["database"] = database
                rows.append(row)
                log(f"    {format_row(row)}")
    finally:
        if kind == "postgres":
            pg_drop()
            if env.get("BENCH_BROKER_URL"):
                import redis

                redis.Redis.from_url(env["BENCH_BROKER_URL"]).flushdb()
        shutil.rmtree(home, ignore_errors=True)
    return rows


def fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def format_row(row: dict) -> str:
    if "error" in row:
        return f"{row['case']}: FAILED {row['error']}"
    if row["case"] == "latency":
        return f"{row['label']}: p50 {row['p50']} s, p99 {row['p99']} s"
    if row["case"] == "pages":
        return f"{row['label']}: median {row['median']} s, p95 {row['p95']} s"
    if row["case"] == "recovery":
        return f"{row['label']}: {recovery_text(row)}"
    return (
        f"{row['label']}: {fmt(row['product'])} {row['unit']} vs raw {fmt(row['raw'])}"
        f" → {fmt(row['ratio'])}×, peak RSS {row['peak_rss_mb']} MB"
    )


def recovery_text(row: dict) -> str:
    return (
        f"the {row['unsent_at_kill']} unsent messages went out {row['resumed_s']}–"
        f"{row['seconds']} s after the kill (lease {row['lease_s']:.0f} s, tick"
        f" {row['tick_s']:.0f} s), {row['interrupted']} interrupted, {row['duplicates']}"
        " duplicates"
    )


def goal_of(row: dict) -> str:
    """The goal of a case; a goal named `case@postgres` applies to PostgreSQL instead."""
    on_postgres = str(row.get("database", "")).startswith("PostgreSQL")
    goal = (on_postgres and GOALS.get(f"{row['case']}@postgres")) or GOALS.get(row["case"])
    if goal is None or "error" in row:
        return ""
    return f"{goal[0]}: {'met' if goal[1](row) else 'MISSED'}"


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "# Drumbeat benchmark",
        "",
        f"Run {meta['finished_at']} · SIZE={meta['size']:,} · {meta['cpus']} CPUs"
        f" · Python {meta['python']} · {meta['wall_seconds']:.0f} s in all"
        f" · load average {meta['load_average'][0]} before, {meta['load_average'][1]} after.",
        "",
        "Each product figure is measured next to its raw limit on the same database in the"
        " same run; ratio = product / raw. Peak RSS is that of the process doing the work"
        " (the bench case process; for tracking and latency the web server, for Celery the"
        " largest worker).",
        "",
        "| Database | Case | Product | Raw limit | Ratio | Peak RSS | Goal |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(
                f"| {row.get('database', '')} | {row['case']} | failed: {row['error']} | | | | |"
            )
            continue
        if row["case"] == "latency":
            product = f"p50 {row['p50']:.3f} s, p99 {row['p99']:.3f} s"
            raw = ratio = "–"
        elif row["case"] == "recovery":
            product, raw, ratio = recovery_text(row), "–", "–"
        elif row["case"] == "pages":
            product = f"median {row['median']:.3f} s, p95 {row['p95']:.3f} s"
            raw = ratio = "–"
        else:
            product = f"{fmt(row['product'])} {row['unit']}"
            label = row["raw_label"].strip("()")
            raw = f"{fmt(row['raw'])} ({label})"
            if row.get("bare_wsgi"):  # tracking: the WSGI app without Django too
                raw += f"; bare WSGI app {fmt(row['bare_wsgi'])}: {row['ratio_to_bare_wsgi']}×"
            if row.get("floor"):  # bulk actions: the least the trace model writes, raw
                raw += (
                    f"; the trace model's floor {fmt(row['floor'])} (its trace and participant"
                    f" UPDATEs plus the raw statement), product {row['ratio_to_floor']}× of it"
                )
            ratio = f"{fmt(row['ratio'])}×" if row["ratio"] is not None else "–"
        lines.append(
            f"| {row['database']} | {row['label']} | {product} | {raw} | {ratio}"
            f" | {row['peak_rss_mb']:.0f} MB | {goal_of(row)} |"
        )
    if meta.get("note"):
        lines += ["", meta["note"]]
    return "\n".join(lines) + "\n"


def large_note() -> str:
    return (
        f"Above {LARGE:,} records `make bench` runs the cases that grow with the size on"
        f" PostgreSQL only ({', '.join(LARGE_CASES)}); the SQLite half and the email, tracking"
        " and Celery cases, which do not grow with it, are those of the default run."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=int(os.environ.get("SIZE", 100_000)))
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--note", default=os.environ.get("BENCH_NOTE", ""))
    parser.add_argument(
        "--cases",
        help="comma-separated cases to run (after the seed), e.g. recovery; the figures then go"
        " to bench/results/cases-NAMES-SIZE.md/.json, not latest",
    )
    args = parser.parse_args(argv)
    only_cases = [c.strip() for c in args.cases.split(",")] if args.cases else None
    if shutil.which("wrk") is None:
        log("wrk is missing: `apt-get install -y wrk` (make bench installs it)")
        return 2
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    rows: list[dict] = []
    large = args.size > LARGE and not only_cases and not args.only
    if large:
        log(f"SIZE above {LARGE:,}: {', '.join(LARGE_CASES)} on PostgreSQL only")
        args.note = " ".join(filter(None, [args.note, large_note()]))
    for kind in ("sqlite", "postgres"):
        if args.only in (None, kind) and not (large and kind == "sqlite"):
            rows += bench_database(kind, args.size, LARGE_CASES if large else only_cases)
    meta = {
        "size": args.size,
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "wall_seconds": round(time.monotonic() - started, 1),
        # Other programs on the machine skew every figure: the 1-minute load average before
        # and after the run says how busy it was (the machine has `cpus` cores).
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "note": args.note,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = markdown(rows, meta)
    data = json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n"
    # latest.* is the last run of any size; size-N.* the last run of that size (the default
    # and the full run are kept side by side).
    names = (
        [f"cases-{'-'.join(only_cases)}-{args.size}"]
        if only_cases
        else ["latest", f"size-{args.size}"]
    )
    for name in names:
        (RESULTS / f"{name}.md").write_text(text)
        (RESULTS / f"{name}.json").write_text(data)
    print(text)
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
