"""Benchmark case `pages` (issue 18, goal 4): the pages of one big campaign on PostgreSQL.

    python -m bench.cases_pages pages N        # DATABASE_URL: a migrated PostgreSQL database
    python -m bench.cases_pages build N        # only the build

Builds (once: a database that already holds the campaign of N participants is reused) a
campaign of N participants and 2N traces with set-based `INSERT … SELECT … generate_series`
statements through the product's tables, so the roll-up triggers run as they do for the
engine: a first email activity processed for every participant (executed over the last 15
days), a follow-up action a quarter processed, a quarter rejected, half scheduled; N/10
messages of the email (half opened, a fifth clicked; people's opens and clicks on the traces
of three in four) and N/100 clicks on its link; a goal reached by one participant in 100.
A second campaign of N participants holds an A/B split (`build_split`): the split processed
for everyone, each participant assigned to branch A or B, the branch's email processed (people
opened a third and clicked a seventh), a goal reached by one participant in 100; its Results
tab compares the branches.

Then times GET of each page through Django's test client (logged in as an admin), ROUNDS
times each, and reports the median and p95 and the process's peak RSS; writes
bench/results/pages-N.md.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drumbeat.settings")
django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402

from bench.common import RESULTS, emit, own_peak_rss_mb  # noqa: E402
from drumbeat.accounts.models import User  # noqa: E402
from drumbeat.automation.models import Activity, Campaign, Participant  # noqa: E402
from drumbeat.lib import clock  # noqa: E402
from drumbeat.mailing.models import Link, Template  # noqa: E402

NAME = "Bench: pages"
SPLIT_NAME = "Bench: pages, A/B split"
ROUNDS = 20
# How long the build of this database took (kept next to it: a later run reuses the rows).
BUILD_FILE = RESULTS / f".pages-build-{os.environ.get('DATABASE_URL', '').rsplit('/', 1)[-1]}"


def build(size: int) -> tuple[Campaign, float | None]:
    campaign = Campaign.objects.filter(name=NAME).first()
    if campaign and Participant.objects.filter(campaign=campaign).count() == size:
        if not Participant.objects.filter(campaign=campaign, converted_at__isnull=False).exists():
            engage(campaign)  # a database built before the engagement step
        return campaign, BUILD_FILE.read_text() if BUILD_FILE.exists() else None
    if campaign:
        campaign.delete()
    started = time.monotonic()
    template = Template.objects.create(
        name="Bench pages email", kind="email", target="contacts.contact", subject="Hello"
    )
    campaign = Campaign.objects.create(
        name=NAME, target="contacts.contact", domain=[], unique_field="email", state="running"
    )
    email = Activity.objects.create(
        campaign=campaign, name="Welcome email", kind="email", template=template, trigger="begin"
    )
    follow = Activity.objects.create(
        campaign=campaign,
        parent=email,
        name="Follow-up",
        kind="email",
        template=template,
        trigger="begin",
        delay_amount=2,
        delay_unit="days",
    )
    link = Link.objects.create(
        url="https://example.org/spring",
        code="benchpages",
        template=template,
        campaign_id=campaign.pk,
        activity_id=email.pk,
    )
    now = clock.now()
    steps = [
        (
            "participants",
            "INSERT INTO automation_participant (campaign_id, record_id, unique_key, state,"
            " is_test, enrolled_at, completed_at) SELECT %(c)s, i, 'p' || i || '@example.com',"
            " CASE WHEN i % 2 = 0 THEN 'completed' ELSE 'running' END, FALSE,"
            " %(now)s - (i % 15) * interval '1 day' - (i % 1440) * interval '1 minute',"
            " NULL FROM generate_series(1, %(n)s) AS i",
        ),
        (
            "email traces",
            "INSERT INTO automation_trace (participant_id, activity_id, state, scheduled_at,"
            " executed_at, reason, is_test, created_at) SELECT p.id, %(email)s, 'processed',"
            " p.enrolled_at, p.enrolled_at + interval '1 minute', '', FALSE, p.enrolled_at"
            " FROM automation_participant p WHERE p.campaign_id = %(c)s ORDER BY p.id",
        ),
        (
            "follow-up traces",
            "INSERT INTO automation_trace (participant_id, activity_id, state, scheduled_at,"
            " executed_at, reason, is_test, created_at) SELECT p.id, %(follow)s,"
            " (ARRAY['processed', 'rejected', 'scheduled', 'scheduled'])[p.id % 4 + 1],"
            " p.enrolled_at + interval '2 days',"
            " CASE WHEN p.id % 4 < 2 THEN p.enrolled_at + interval '1 hour' END,"
            " CASE WHEN p.id % 4 = 1 THEN 'no longer matches' ELSE '' END, FALSE, p.enrolled_at"
            " FROM automation_participant p WHERE p.campaign_id = %(c)s ORDER BY p.id",
        ),
        (
            "messages",
            "INSERT INTO mailing_message (channel, campaign_id, activity_id, record_model,"
            " record_id, is_test, recipient, message_id, token, subject, state, attempts,"
            " created_at, sent_at, opened_at, clicked_at, bounce_kind, bounce_category,"
            " failure_reason) SELECT 'email', %(c)s, %(email)s, 'contacts.contact', i, FALSE,"
            " 'p' || i || '@example.com', '<bench' || i || '@example.org>', 'bench' || i,"
            " 'Hello', 'sent', 1, %(now)s, %(now)s,"
            " CASE WHEN i % 2 = 0 THEN %(now)s END, CASE WHEN i % 5 = 0 THEN %(now)s END,"
            " '', '', '' FROM generate_series(1, %(n)s / 10) AS i",
        ),
        (
            "clicks",
            "INSERT INTO mailing_click (link_id, message_id, at, user_agent, is_machine)"
            " SELECT %(link)s, m.id, %(now)s, 'Mozilla/5.0', FALSE FROM mailing_message m"
            " WHERE m.campaign_id = %(c)s AND m.id % 10 = 0",
        ),
    ]
    values = {
        "c": campaign.pk,
        "email": email.pk,
        "follow": follow.pk,
        "link": link.pk,
        "n": size,
        "now": now,
    }
    run_steps(steps, values)
    engage(campaign)
    t0 = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"  vacuum analyze: {time.monotonic() - t0:.0f} s", flush=True)
    seconds = round(time.monotonic() - started)
    BUILD_FILE.write_text(f"{seconds:,} s on {datetime.now(UTC):%Y-%m-%d}")
    return campaign, seconds


def build_split(size: int) -> Campaign:
    """The A/B split campaign of `size` participants (reused when it has them)."""
    campaign = Campaign.objects.filter(name=SPLIT_NAME).first()
    if campaign and Participant.objects.filter(campaign=campaign).count() == size:
        return campaign
    if campaign:
        campaign.delete()
    template = Template.objects.create(
        name="Bench split email", kind="email", target="contacts.contact", subject="Hello"
    )
    campaign = Campaign.objects.create(
        name=SPLIT_NAME,
        target="contacts.contact",
        domain=[],
        unique_field="email",
        state="running",
        goal_domain=[["email", "=", "x@example.org"]],
    )
    split = Activity.objects.create(
        campaign=campaign,
        name="Split",
        kind="split",
        trigger="begin",
        branches=[{"name": "A", "weight": 50}, {"name": "B", "weight": 50}],
    )
    emails = {
        branch: Activity.objects.create(
            campaign=campaign,
            parent=split,
            branch=branch,
            name=f"Email {branch}",
            kind="email",
            template=template,
            trigger="begin",
        )
        for branch in ("A", "B")
    }
    steps = [
        (
            "split participants",
            "INSERT INTO automation_participant (campaign_id, record_id, unique_key, state,"
            " is_test, enrolled_at, completed_at, converted_at) SELECT %(c)s, i,"
            " 's' || i || '@example.com', 'completed', FALSE,"
            " %(now)s - (i % 15) * interval '1 day' - (i % 1440) * interval '1 minute',"
            " %(now)s, CASE WHEN i % 100 = 0 THEN %(now)s END FROM generate_series(1, %(n)s) i",
        ),
        (
            "split traces",
            "INSERT INTO automation_trace (participant_id, activity_id, state, scheduled_at,"
            " executed_at, reason, is_test, created_at) SELECT p.id, %(split)s, 'processed',"
            " p.enrolled_at, p.enrolled_at, '', FALSE, p.enrolled_at"
            " FROM automation_participant p WHERE p.campaign_id = %(c)s ORDER BY p.id",
        ),
        (
            "assignments",
            "INSERT INTO automation_splitassignment (participant_id, split_id, branch,"
            " randomized, assigned_at) SELECT p.id, %(split)s,"
            " CASE WHEN p.id % 2 = 0 THEN 'A' ELSE 'B' END, TRUE, p.enrolled_at"
            " FROM automation_participant p WHERE p.campaign_id = %(c)s ORDER BY p.id",
        ),
        (
            "branch email traces",
            "INSERT INTO automation_trace (participant_id, activity_id, parent_id, state,"
            " scheduled_at, executed_at, reason, is_test, created_at, human_opened_at,"
            " human_clicked_at) SELECT t.participant_id,"
            " CASE WHEN t.participant_id % 2 = 0 THEN %(a)s ELSE %(b)s END, t.id, 'processed',"
            " t.executed_at, t.executed_at, '', FALSE, t.executed_at,"
            " CASE WHEN t.id % 3 = 0 THEN %(now)s END, CASE WHEN t.id % 7 = 0 THEN %(now)s END"
            " FROM automation_trace t WHERE t.activity_id = %(split)s ORDER BY t.id",
        ),
    ]
    values = {
        "c": campaign.pk,
        "split": split.pk,
        "a": emails["A"].pk,
        "b": emails["B"].pk,
        "n": size,
        "now": clock.now(),
    }
    run_steps(steps, values)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return campaign


def run_steps(steps: list[tuple[str, str]], values: dict) -> None:
    """Each (label, SQL) in its own transaction, with its row count and duration printed."""
    for label, sql in steps:
        t0 = time.monotonic()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql.replace(" % ", " %% "), values)
            rows = cursor.rowcount
        print(f"  {label}: {rows:,} rows in {time.monotonic() - t0:.0f} s", flush=True)


def engage(campaign: Campaign) -> None:
    """What the Results tab reads beyond the roll-ups: the messages linked to their email
    traces, people's opens and clicks on three in four of them (the rest opened by scanners
    only), and a goal reached by one participant in a hundred, three days after enrolment."""
    email = campaign.activities.get(name="Welcome email")
    steps = [
        (
            "messages linked, opens by people",
            "WITH linked AS MATERIALIZED (SELECT m.id AS message_id, t.id AS trace_id,"
            " m.opened_at, m.clicked_at FROM mailing_message m JOIN automation_participant p"
            " ON p.campaign_id = %(c)s AND p.record_id = m.record_id JOIN automation_trace t"
            " ON t.participant_id = p.id AND t.activity_id = %(email)s"
            " WHERE m.campaign_id = %(c)s),"
            " traces AS (UPDATE automation_trace t SET message_id = l.message_id,"
            " human_opened_at = CASE WHEN l.message_id % 4 <> 0"
            " THEN COALESCE(l.opened_at, l.clicked_at) END,"
            " human_clicked_at = CASE WHEN l.message_id % 4 <> 0 THEN l.clicked_at END"
            " FROM linked l WHERE t.id = l.trace_id)"
            " UPDATE mailing_message m SET trace_id = l.trace_id FROM linked l"
            " WHERE m.id = l.message_id",
        ),
        (
            "conversions",
            "UPDATE automation_participant SET converted_at = enrolled_at + interval '3 days'"
            " WHERE campaign_id = %(c)s AND id % 100 = 0",
        ),
    ]
    Campaign.objects.filter(pk=campaign.pk).update(goal_domain=[["email", "=", "x@example.org"]])
    values = {"c": campaign.pk, "email": email.pk}
    run_steps(steps, values)


def p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def case_pages(size: int) -> None:
    campaign, build_seconds = build(size)
    split_campaign = build_split(size)
    user = User.objects.filter(username="bench-pages").first() or User.objects.create_user(
        "bench-pages", "bench@example.org", "bench pages", role=User.Role.ADMIN
    )
    client = Client()
    client.force_login(user)
    c = campaign.pk
    follow = campaign.activities.get(name="Follow-up").pk
    since = (clock.now() - timedelta(days=2)).date().isoformat()
    one = size * 3 // 7  # the participant p{one}@example.com, found by its key's start
    pages = [
        ("Workflow (every activity card and chart)", f"/campaigns/{c}/"),
        ("Participants report", f"/reporting/participants/?campaign={c}"),
        ("Participants report, page 50", f"/reporting/participants/?campaign={c}&page=50"),
        (
            "Participants report, page 400 (the last)",
            f"/reporting/participants/?campaign={c}&page=400",
        ),
        ("Traces report", f"/reporting/traces/?campaign={c}"),
        ("Traces report, page 400 (the last)", f"/reporting/traces/?campaign={c}&page=400"),
        ("Traces report, processed", f"/reporting/traces/?campaign={c}&state=processed"),
        (
            "Participants report, step filter (rejected follow-ups)",
            f"/reporting/participants/?campaign={c}&activity={follow}&trace_state=rejected",
        ),
        ("Participants report, text search", f"/reporting/participants/?campaign={c}&q=example"),
        (
            "Participants report, text search matching one participant",
            f"/reporting/participants/?campaign={c}&q=p{one}@",
        ),
        (
            "Participants report, text search matching none",
            f"/reporting/participants/?campaign={c}&q=nobody@nowhere",
        ),
        ("Traces report, date range", f"/reporting/traces/?campaign={c}&since={since}"),
        ("Results (per activity, a goal reached by 1 %)", f"/campaigns/{c}/results/"),
        (
            "Workflow of the A/B split (participants down each branch)",
            f"/campaigns/{split_campaign.pk}/",
        ),
        (
            "Results of an A/B split (two branches compared, a goal reached by 1 %)",
            f"/campaigns/{split_campaign.pk}/results/",
        ),
        ("Link tracker", f"/reporting/links/?campaign={c}"),
        ("Campaign list", "/campaigns/"),
    ]
    rows = []
    for label, url in pages:
        times = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - t0)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")
        if f"q=p{one}@" in url and f"p{one}@example.com" not in response.content.decode():
            raise RuntimeError(f"{url} did not list p{one}@example.com")
        rows.append(
            {
                "case": "pages",
                "label": f"{label}, {size:,} participants",
                "page": label,
                "url": url,
                "median": round(statistics.median(times), 3),
                "p95": round(p95(times), 3),
            }
        )
        print(f"  {label}: median {rows[-1]['median']} s, p95 {rows[-1]['p95']} s", flush=True)
    rss = round(own_peak_rss_mb(), 1)
    for row in rows:
        row["peak_rss_mb"] = rss
    with connection.cursor() as cursor:
        cursor.execute("SELECT version(), pg_size_pretty(pg_database_size(current_database()))")
        version, db_size = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM automation_trace")
        traces = cursor.fetchone()[0]
    meta = {
        "size": size,
        "traces": traces,
        "build": build_seconds,
        "rss_mb": rss,
        "database": version.split(" on ")[0],
        "database_size": db_size,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPU cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB RAM",
    }
    meta["load_average"] = round(os.getloadavg()[0], 1)
    write_markdown(rows, meta)
    emit({"rows": rows, "meta": meta})


def write_markdown(rows: list[dict], meta: dict) -> None:
    build = meta["build"] if isinstance(meta["build"], str) else f"{meta['build'] or 0:,} s"
    lines = [
        f"# Pages of a campaign with {meta['size']:,} participants",
        "",
        f"{meta['date']} · {meta['machine']} · {meta['database']} · database"
        f" {meta['database_size']} · {meta['traces']:,} traces · build {build}",
        "",
        f"`python -m bench.cases_pages pages {meta['size']}`: GET through Django's test client,"
        f" {ROUNDS} times each, logged in as an admin. Peak RSS of the process:"
        f" {meta['rss_mb']} MB. Load average (1 min) at the end: {meta['load_average']}"
        f" on {os.cpu_count()} cores.",
        "",
        "| Page | URL | median | p95 | goal |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        ok = "met" if row["p95"] <= 1.0 else "**missed**"
        lines.append(
            f"| {row['page']} | `{row['url']}` | {row['median']:.3f} s | {row['p95']:.3f} s"
            f" | ≤ 1 s: {ok} |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"pages-{meta['size']}.md").write_text("\n".join(lines) + "\n")


def case_build(size: int) -> None:
    """Only the build (a long one at ten million: start it early, time the pages later)."""
    campaign, seconds = build(size)
    build_split(size)
    emit({"case": "build", "campaign": campaign.pk, "build_seconds": seconds})


CASES = {"pages": case_pages, "build": case_build}

if __name__ == "__main__":
    CASES[sys.argv[1]](int(sys.argv[2]))
