"""Benchmark cases, each run in its own process by run.py: `python -m bench.cases CASE SIZE`.

Every case measures the product and the raw limit of the same work on the same database in
the same run, and prints one `RESULT {json}` line. The database (DATABASE_URL) and data folder
(DRUMBEAT_HOME) come from run.py, which creates, migrates and seeds them first.
"""

from __future__ import annotations

import os
import smtplib
import statistics
import subprocess
import sys
import threading
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drumbeat.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from bench.common import (  # noqa: E402
    emit,
    free_port,
    own_peak_rss_mb,
    tree_peak_rss_mb,
    wait_for_port,
)
from bench.sink import Sink  # noqa: E402
from drumbeat.automation import actions  # noqa: E402, F401  (loaded in a running worker)
from drumbeat.automation.engine.enroll import enroll_campaign  # noqa: E402
from drumbeat.automation.engine.execute import execute_batch  # noqa: E402
from drumbeat.automation.models import Activity, Campaign, ServerAction, Trace  # noqa: E402
from drumbeat.contacts.models import Contact, Tag  # noqa: E402
from drumbeat.crm.models import Lead  # noqa: E402
from drumbeat.lib import clock  # noqa: E402
from drumbeat.mailing.models import Link, Message, Template  # noqa: E402

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
LATENCY_EVENTS = 200
TRACKING_SECONDS = 10
FINAL = ("processed", "rejected", "cancelled", "error")

HTML = (
    "<html><head><style>p{font-family:Arial,sans-serif;color:#333}.cta{color:#0a6}</style>"
    "</head><body><h1>Hello {{ record.name }}</h1>"
    + "<p>Our spring collection is here, with new colours and the same fair prices. "
    "Read on for the highlights we picked for you this season.</p>"
    * 20
    + '<p><a class="cta" href="https://example.org/spring">See the collection</a></p>'
    "<p>Write to us at any time: we answer every message.</p></body></html>"
)
TEXT = "Hello {{ record.name }}\n\nOur spring collection is here: https://example.org/spring\n"
SUBJECT = "Spring news for {{ record.name }}"


def email_size(size: int) -> int:
    return max(500, min(size // 20, 50_000))


def db_now():
    return connection.ops.adapt_datetimefield_value(clock.now())


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def timed(fn, *args):
    started = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - started


def result(case, label, unit, n, product_s, raw_n, raw_s, raw_label, **extra) -> dict:
    product = n / product_s if product_s else 0.0
    raw = raw_n / raw_s if raw_s else 0.0
    return {
        "case": case,
        "label": label,
        "unit": unit,
        "n": n,
        "product": round(product, 1),
        "product_seconds": round(product_s, 3),
        "raw": round(raw, 1),
        "raw_seconds": round(raw_s, 3),
        "raw_label": raw_label,
        "ratio": round(product / raw, 3) if raw else None,
        "peak_rss_mb": round(own_peak_rss_mb(), 1),
        **extra,
    }


# --- data ------------------------------------------------------------------------------------


def seed(size: int) -> None:
    """N contacts and N leads with raw INSERT … SELECT (setup, not measured)."""
    mail_n = email_size(size)
    now = db_now()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            numbers = "SELECT generate_series(1, %s) AS i"
        else:
            numbers = (
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %s)"
                " SELECT i FROM s"
            )
        city = (
            f"CASE WHEN i <= {mail_n} THEN 'Mailtown'"
            f" WHEN i <= {mail_n + LATENCY_EVENTS} THEN 'Pingville' ELSE 'Elsewhere' END"
        )
        cursor.execute(
            f"INSERT INTO {table(Contact)} (name, email, phone, company_name, country, city,"
            f" active, created_at) SELECT 'Person ' || i, 'person' || i || '@example.com', '',"
            f" 'Acme', 'FR', {city}, %s, %s FROM ({numbers}) AS n",
            [True, now, size],
        )
        cursor.execute(
            f"INSERT INTO {table(Lead)} (title, contact_name, email, phone, priority,"
            f" expected_revenue, active, created_at) SELECT 'Deal ' || i, 'Person ' || i,"
            f" 'lead' || i || '@example.com', '', 0, 0, %s, %s FROM ({numbers}) AS n",
            [True, now, size],
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    emit({"case": "seed", "contacts": Contact.objects.count(), "leads": Lead.objects.count()})


def make_campaign(name, target, domain, unique_field="email", **fields) -> Campaign:
    return Campaign.objects.create(
        name=name, target=target, domain=domain, unique_field=unique_field, **fields
    )


def add_activity(campaign, **fields) -> Activity:
    fields.setdefault("trigger", "begin")
    return Activity.objects.create(campaign=campaign, name=fields.pop("name", "step"), **fields)


def start(campaign: Campaign) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.RUNNING)
    campaign.state = Campaign.State.RUNNING


def drain(activity: Activity) -> int:
    activity = Activity.objects.select_related("campaign", "server_action", "template").get(
        pk=activity.pk
    )
    done = 0
    while True:
        claimed = execute_batch(activity, clock.now())
        if not claimed:
            return done
        done += claimed


# --- enrolment and bulk actions --------------------------------------------------------------


def add_tag_action(name: str) -> ServerAction:
    tag = Tag.objects.get_or_create(name=name)[0]
    return ServerAction.objects.create(
        name=f"Tag {name}",
        target="contacts.contact",
        kind="update_record",
        params={"field": "tags", "operation": "add", "value": [tag.pk]},
    )


def case_enrol(size: int) -> None:
    """Participants + begin traces for N records vs two raw INSERT … SELECT of the same rows."""
    from drumbeat.automation.models import Participant

    raw_campaign = make_campaign("raw enrolment", "contacts.contact", [])
    raw_activity = add_activity(raw_campaign, kind="action", server_action=add_tag_action("Raw"))
    now = db_now()

    def raw() -> int:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table(Participant)} (campaign_id, record_id, unique_key, state,"
                f" is_test, enrolled_at) SELECT %s, id, lower(trim(email)), 'running', %s, %s"
                f" FROM {table(Contact)} ORDER BY id",
                [raw_campaign.pk, False, now],
            )
            rows = cursor.rowcount
            cursor.execute(
                f"INSERT INTO {table(Trace)} (participant_id, activity_id, state, scheduled_at,"
                f" reason, is_test, created_at) SELECT id, %s, 'scheduled', %s, '', is_test, %s"
                f" FROM {table(Participant)} WHERE campaign_id = %s ORDER BY id",
                [raw_activity.pk, now, now, raw_campaign.pk],
            )
            return rows + cursor.rowcount

    raw_rows, raw_s = timed(raw)
    with transaction.atomic(), connection.cursor() as cursor:  # raw: the ORM would load the rows
        cursor.execute(f"DELETE FROM {table(Trace)} WHERE activity_id = %s", [raw_activity.pk])
        cursor.execute(
            f"DELETE FROM {table(Participant)} WHERE campaign_id = %s", [raw_campaign.pk]
        )
    raw_campaign.delete()

    campaign = make_campaign("Bench: tag everyone", "contacts.contact", [])
    add_activity(campaign, kind="action", server_action=add_tag_action("Hot"))
    start(campaign)
    enrolled, product_s = timed(enroll_campaign, campaign)
    rows = enrolled.enrolled + enrolled.traces
    assert enrolled.enrolled == size, enrolled
    emit(
        result(
            "enrol",
            f"Enrolment of {size:,} contacts (participants + begin traces)",
            "rows/s",
            rows,
            product_s,
            raw_rows,
            raw_s,
            "INSERT … SELECT participants, then traces",
        )
    )


def model_floor(activity: Activity, action_sql: str, params: list) -> tuple[float, float]:
    """The least the trace model must write for the activity's due traces, as raw SQL: its
    traces processed, its participants completed, and the action's own statement (plain
    UPDATEs of the same rows, no roll-up counting), in one transaction rolled back. Returns
    (seconds of the model's two UPDATEs, seconds of all three); the product can approach
    this, not the action's statement alone."""
    from drumbeat.automation.models import Participant, RollupPause
    from drumbeat.automation.rollup_sql import PAUSE_SETTING

    now = db_now()
    model_s = 0.0
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # The roll-up triggers paused, as the engine does (rollups.paused).
            if connection.vendor == "sqlite":
                cursor.execute(f"INSERT INTO {table(RollupPause)} DEFAULT VALUES")
            else:
                cursor.execute("SELECT set_config(%s, 'on', true)", [PAUSE_SETTING])
            started = time.perf_counter()
            cursor.execute(
                f"UPDATE {table(Trace)} SET state = 'processed', executed_at = %s"
                f" WHERE activity_id = %s AND state = 'scheduled'",
                [now, activity.pk],
            )
            cursor.execute(
                f"UPDATE {table(Participant)} SET state = 'completed', completed_at = %s"
                f" WHERE campaign_id = %s AND state = 'running'",
                [now, activity.campaign_id],
            )
            model_s = time.perf_counter() - started
            cursor.execute(action_sql, params)
            all_s = time.perf_counter() - started
            raise _RolledBack
    except _RolledBack:
        pass
    if connection.vendor == "postgresql":  # the rolled-back rows' dead versions, gone
        with connection.cursor() as cursor:
            for model in (Trace, Participant, Contact, Lead, Contact.tags.through):
                cursor.execute(f"VACUUM {table(model)}")
    return model_s, all_s


class _RolledBack(Exception):
    pass


def floor_fields(n: int, product_s: float, floor: tuple[float, float]) -> dict:
    model_s, all_s = floor
    return {
        "floor": round(n / all_s, 1),
        "floor_seconds": round(all_s, 3),
        "floor_model_seconds": round(model_s, 3),
        "ratio_to_floor": round(all_s / product_s, 3),
    }


def case_add_tag(size: int) -> None:
    """The enrolled campaign's due 'add tag' traces vs one raw INSERT … SELECT into the M2M."""
    activity = Activity.objects.get(campaign__name="Bench: tag everyone")
    through = Contact.tags.through
    other = Tag.objects.get_or_create(name="Raw tag")[0]

    def raw() -> int:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table(through)} (contact_id, tag_id) SELECT id, %s"
                f" FROM {table(Contact)}",
                [other.pk],
            )
            return cursor.rowcount

    hot = Tag.objects.get(name="Hot")
    floor = model_floor(
        activity,
        f"INSERT INTO {table(through)} (contact_id, tag_id) SELECT id, %s FROM {table(Contact)}",
        [hot.pk],
    )
    done, product_s = timed(drain, activity)
    raw_rows, raw_s = timed(raw)
    tagged = Contact.objects.filter(tags__name="Hot").count()
    assert done == size and tagged == size, (done, tagged)
    assert not Trace.objects.filter(activity=activity).exclude(state="processed").exists()
    emit(
        result(
            "add_tag",
            f'Server action "add tag" on {size:,} due traces',
            "traces/s",
            done,
            product_s,
            raw_rows,
            raw_s,
            "INSERT … SELECT into contact_tags",
            **floor_fields(done, product_s, floor),
        )
    )


def case_set_priority(size: int) -> None:
    """'Set priority' on N leads' due traces vs one raw UPDATE."""
    action = ServerAction.objects.create(
        name="Priority 3",
        target="crm.lead",
        kind="update_record",
        params={"field": "priority", "operation": "set", "value": 3},
    )
    campaign = make_campaign("Bench: prioritise", "crm.lead", [], unique_field="")
    activity = add_activity(campaign, kind="action", server_action=action)
    start(campaign)
    enroll_campaign(campaign)

    def raw() -> int:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table(Lead)} SET priority = %s", [2])
            return cursor.rowcount

    raw_rows, raw_s = timed(raw)
    floor = model_floor(activity, f"UPDATE {table(Lead)} SET priority = %s", [3])
    done, product_s = timed(drain, activity)
    assert done == size and Lead.objects.filter(priority=3).count() == size
    emit(
        result(
            "set_priority",
            f'Server action "set priority" on {size:,} due traces',
            "traces/s",
            done,
            product_s,
            raw_rows,
            raw_s,
            "UPDATE crm_lead SET priority",
            **floor_fields(done, product_s, floor),
        )
    )


# --- email -----------------------------------------------------------------------------------


def make_template(name: str) -> Template:
    return Template.objects.create(
        name=name,
        kind="email",
        target="contacts.contact",
        subject=SUBJECT,
        body_html=HTML,
        body_text=TEXT,
    )


def bare_loop(port: int, rows: list[tuple[str, str]]) -> int:
    """Render + MIME + SMTP over one connection, nothing else: the raw limit of the email path."""
    from jinja2.sandbox import SandboxedEnvironment

    from drumbeat.mailing.mime import build_email

    env = SandboxedEnvironment(autoescape=True)
    subject, html, text = (env.from_string(s) for s in (SUBJECT, HTML, TEXT))
    smtp = smtplib.SMTP("127.0.0.1", port)
    date = clock.now()
    for n, (name, address) in enumerate(rows):
        record = {"name": name, "email": address}
        data = build_email(
            sender="Drumbeat <news@example.org>",
            to=address,
            subject=subject.render(record=record),
            html=html.render(record=record),
            text=text.render(record=record),
            message_id=f"<bare{n}@example.org>",
            date=date,
        )
        smtp.sendmail("news@example.org", [address], data)
    smtp.quit()
    return len(rows)


def case_email(size: int) -> None:
    """An email activity (claim → filter → render → MIME → SMTP → children) vs the bare loop."""
    n = email_size(size)
    sink = Sink()
    try:
        settings.EMAIL_URL = f"smtp://127.0.0.1:{sink.port}?timeout=30"
        settings.BASE_URL = "http://127.0.0.1:8000"
        campaign = make_campaign("Bench: email", "contacts.contact", [["city", "=", "Mailtown"]])
        activity = add_activity(campaign, kind="email", template=make_template("Bench email"))
        add_activity(
            campaign,
            parent=activity,
            trigger="mail_open",
            kind="action",
            server_action=add_tag_action("Opened"),
        )
        start(campaign)
        enroll_campaign(campaign)
        rows = list(
            Contact.objects.filter(city="Mailtown").order_by("id").values_list("name", "email")
        )
        sent, product_s = timed(drain, activity)
        sink.wait_for(n)
        product_received = sink.count
        product_rss = own_peak_rss_mb()
        raw_n, raw_s = timed(bare_loop, sink.port, rows)
        sink.wait_for(product_received + raw_n)
        assert sent == n and product_received == n, (sent, product_received)
        assert Message.objects.filter(activity_id=activity.pk, state="sent").count() == n
        out = result(
            "email",
            f"Email activity, {n:,} messages to an SMTP sink process",
            "messages/s",
            n,
            product_s,
            raw_n,
            raw_s,
            "bare Jinja2 render + MIME + SMTP loop, one connection",
        )
        out["peak_rss_mb"] = round(product_rss, 1)
        emit(out)
    finally:
        sink.stop()


def case_email_capped(size: int) -> None:
    """The email case with contact pressure on (caps counted, a send window checked per
    recipient) next to the same email activity without caps or windows, in the same run."""
    n = email_size(size)
    sink = Sink()
    try:
        settings.EMAIL_URL = f"smtp://127.0.0.1:{sink.port}?timeout=30"
        settings.BASE_URL = "http://127.0.0.1:8000"
        timings = {}
        for label, cap, window in (
            ("plain", "", ""),
            # Loose enough that every email fits: the cost measured is that of the checks
            # (the slots of earlier sends are read and counted for every recipient).
            ("capped", "5/day,10/7days", "Mon-Sun 00:00-24:00"),
        ):
            settings.PRESSURE_EMAIL_CAP, settings.PRESSURE_EMAIL_WINDOW = cap, window
            campaign = make_campaign(
                f"Bench: email ({label})", "contacts.contact", [["city", "=", "Mailtown"]]
            )
            activity = add_activity(
                campaign, kind="email", template=make_template(f"Bench {label}")
            )
            start(campaign)
            enroll_campaign(campaign)
            received = sink.count
            sent, timings[label] = timed(drain, activity)
            sink.wait_for(received + n)
            assert sent == n, (label, sent)
            assert Message.objects.filter(activity_id=activity.pk, state="sent").count() == n
        emit(
            result(
                "email_capped",
                f"Email activity with caps and a send window, {n:,} messages",
                "messages/s",
                n,
                timings["capped"],
                n,
                timings["plain"],
                "the same email activity without caps or windows",
            )
        )
    finally:
        settings.PRESSURE_EMAIL_CAP = settings.PRESSURE_EMAIL_WINDOW = ""
        sink.stop()


# --- tracking and latency --------------------------------------------------------------------


def _serve(port: int, *extra: str, env: dict | None = None) -> subprocess.Popen:
    command = [
        str(os.path.join(os.path.dirname(sys.executable), "drumbeat")),
        "serve",
        "--bind",
        f"127.0.0.1:{port}",
        *extra,
    ]
    process = subprocess.Popen(
        command,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, 90, process)
    return process


def _warm_up(port: int) -> None:
    """Wait until the web worker answers (gunicorn listens before its worker has loaded the
    app, which takes seconds): a refused tracking request, 404, records nothing."""
    import httpx

    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/t/o/warm-up", timeout=30)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wrk(port: int, paths: list[str], seconds: int) -> dict:
    script = os.path.join(settings.HOME, "bench-paths.lua")
    quoted = ",\n".join(f'"{p}"' for p in paths)
    with open(script, "w") as f:
        f.write(
            f"local paths = {{\n{quoted}\n}}\n"
            "local i = 0\n"
            'wrk.headers["User-Agent"] = "' + BROWSER + '"\n'
            "request = function()\n"
            "  i = i % #paths + 1\n"
            "  return wrk.format(nil, paths[i])\n"
            "end\n"
        )
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            "-c16",
            f"-d{seconds}s",
            "--latency",
            "-s",
            script,
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = 0.0
    bad = 0
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            requests = float(parts[1])
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            bad = int(parts[-1])
    return {"rps": requests, "bad": bad, "output": out}


RAW_WSGI = """
import base64
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "image/gif"), ("Cache-Control", "no-store")])
    return [PIXEL]
"""


RAW_DJANGO = """
import base64

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={},
)

import django  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.cache import never_cache  # noqa: E402

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@never_cache
def pixel(request, token):
    return HttpResponse(PIXEL, content_type="image/gif")


urlpatterns = [path("t/o/<str:token>", pixel)]
application = get_wsgi_application()
"""


def _bare_server_wrk(module: str, source: str, workers: str) -> dict:
    """wrk against the same gunicorn settings serving `source` (a module with `application`)."""
    app_dir = os.path.join(settings.HOME, "rawapp")
    os.makedirs(app_dir, exist_ok=True)
    with open(os.path.join(app_dir, f"{module}.py"), "w") as f:
        f.write(source)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    server = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "gunicorn"),
            "--chdir",
            app_dir,
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            workers,
            "-k",
            "gthread",
            "--threads",
            "8",
            "--log-level",
            "warning",
            f"{module}:application",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, 60, server)
        _warm_up(port)
        answer = _wrk(port, ["/t/o/x"], TRACKING_SECONDS)
    finally:
        _stop(server)
    if answer["bad"]:
        raise RuntimeError(f"the bare {module} app answered errors:\n{answer['output']}")
    return answer


def case_tracking(size: int) -> None:
    """Open and click requests/s against `drumbeat serve` vs the same server with a bare app."""
    messages = list(
        Message.objects.filter(state="sent", template__name="Bench email").values_list(
            "token", "activity_id"
        )[:5000]
    )
    codes = dict(Link.objects.values_list("activity_id", "code"))
    paths = []
    for token, activity_id in messages:
        paths.append(f"/t/o/{token}")
        paths.append(f"/r/{codes[activity_id]}/{token}")
    port = free_port()
    server = _serve(port)
    try:
        _warm_up(port)
        product = _wrk(port, paths, TRACKING_SECONDS)
        server_rss = tree_peak_rss_mb(server.pid)
    finally:
        _stop(server)
    if product["bad"]:
        raise RuntimeError(f"tracking answered {product['bad']} errors:\n{product['output']}")
    # The raw limit: the same gunicorn settings (gthread, 8 threads, same worker count)
    # serving a bare Django app (one view answering the pixel, no middleware, no database);
    # next to it, the same server with a 1-pixel WSGI app and no Django at all.
    workers = "2" if settings.IS_POSTGRES else "1"
    raw = _bare_server_wrk("rawdjango", RAW_DJANGO, workers)
    bare_wsgi = _bare_server_wrk("rawpixel", RAW_WSGI, workers)
    out = result(
        "tracking",
        "Open/click tracking requests (wrk, 16 connections) against `drumbeat serve`",
        "requests/s",
        int(product["rps"] * TRACKING_SECONDS),
        TRACKING_SECONDS,
        int(raw["rps"] * TRACKING_SECONDS),
        TRACKING_SECONDS,
        "same gunicorn serving a bare Django app: one pixel view, no middleware",
    )
    out["bare_wsgi"] = round(bare_wsgi["rps"], 1)
    out["ratio_to_bare_wsgi"] = round(product["rps"] / bare_wsgi["rps"], 3)
    out["peak_rss_mb"] = round(server_rss, 1)
    out["web_workers"] = int(workers)
    emit(out)


def case_latency(size: int) -> None:
    """Open event → its delay-0 child executed, through `drumbeat serve --with-worker`."""
    import httpx

    sink = Sink()
    settings.EMAIL_URL = f"smtp://127.0.0.1:{sink.port}?timeout=30"
    campaign = make_campaign(
        "Bench: latency",
        "contacts.contact",
        [["city", "=", "Pingville"]],
        ignore_machine_events=False,
    )
    email = add_activity(campaign, kind="email", template=make_template("Latency email"))
    child = add_activity(
        campaign,
        parent=email,
        trigger="mail_open",
        kind="action",
        server_action=add_tag_action("Opened fast"),
    )
    start(campaign)
    enroll_campaign(campaign)
    drain(email)
    tokens = dict(
        Message.objects.filter(activity_id=email.pk, state="sent").values_list("trace_id", "token")
    )
    port = free_port()
    server = _serve(port, "--with-worker", env={"DRUMBEAT_EMAIL_URL": settings.EMAIL_URL})
    sent_at: dict[int, float] = {}
    seen: dict[int, float] = {}
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            done = Trace.objects.filter(activity=child, state__in=FINAL).values_list(
                "parent_id", flat=True
            )
            now = time.perf_counter()
            for parent in done:
                seen.setdefault(parent, now)
            time.sleep(0.01)
        connection.close()

    poller = threading.Thread(target=poll, daemon=True)
    try:
        time.sleep(2)  # the embedded runner's first pass (enrolment of every running campaign)
        poller.start()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for trace_id, token in tokens.items():
                sent_at[trace_id] = time.perf_counter()
                response = client.get(f"/t/o/{token}", headers={"User-Agent": BROWSER})
                response.raise_for_status()
                time.sleep(0.05)  # about 20 events per second
        deadline = time.monotonic() + 120
        while len(seen) < len(sent_at) and time.monotonic() < deadline:
            time.sleep(0.05)
        server_rss = tree_peak_rss_mb(server.pid)
    finally:
        stop.set()
        _stop(server)
        sink.stop()
    latencies = sorted(seen[t] - sent_at[t] for t in sent_at if t in seen)
    if len(latencies) < len(sent_at):
        raise RuntimeError(f"only {len(latencies)} of {len(sent_at)} children ran")
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    emit(
        {
            "case": "latency",
            "label": f"Open event → delay-0 child executed ({len(latencies)} events, 20/s)",
            "unit": "seconds",
            "n": len(latencies),
            "p50": round(q[49], 3),
            "p99": round(q[98], 3),
            "max": round(latencies[-1], 3),
            "peak_rss_mb": round(server_rss, 1),
        }
    )


# --- Celery ----------------------------------------------------------------------------------


def _celery(*args: str, env: dict) -> subprocess.Popen:
    celery = os.path.join(os.path.dirname(sys.executable), "celery")
    return subprocess.Popen(
        [celery, "-A", "drumbeat", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _worker_args(name: str) -> list[str]:
    """A worker process doing one task at a time (`-P solo`)."""
    args = ["worker", "-P", "solo", "-c", "1", "-n", f"{name}@%h"]
    return [*args, "--without-gossip", "--without-mingle"]


def _wait_for_workers(app, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(app.control.ping(timeout=0.5) or []) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("Celery workers did not answer")


def case_celery(size: int) -> None:
    """The email case run by 1, then 2 Celery worker processes (PostgreSQL + Redis)."""
    from drumbeat.automation.tasks import EXECUTE_DUE
    from drumbeat.celery import app

    broker = os.environ["BENCH_BROKER_URL"]
    app.conf.broker_url = broker
    n = email_size(size)
    sink = Sink()
    figures = {}
    rss = {}
    try:
        for workers in (1, 2):
            env = {
                **os.environ,
                "DRUMBEAT_BROKER_URL": broker,
                "DRUMBEAT_EMAIL_URL": f"smtp://127.0.0.1:{sink.port}?timeout=30",
            }
            processes = [
                _celery(*_worker_args(f"bench{w}"), "--loglevel", "WARNING", env=env)
                for w in range(workers)
            ]
            try:
                _wait_for_workers(app, workers)
                campaign = make_campaign(
                    f"Bench: celery x{workers}", "contacts.contact", [["city", "=", "Mailtown"]]
                )
                activity = add_activity(
                    campaign, kind="email", template=make_template(f"Celery email {workers}")
                )
                start(campaign)
                enroll_campaign(campaign)
                before = sink.count
                started = time.perf_counter()
                app.send_task(EXECUTE_DUE, args=[activity.pk])
                deadline = time.monotonic() + 600
                while Trace.objects.filter(activity=activity).exclude(state__in=FINAL).exists():
                    if time.monotonic() > deadline:
                        raise RuntimeError("Celery run did not finish")
                    time.sleep(0.05)
                elapsed = time.perf_counter() - started
                sink.wait_for(before + n)
                received = sink.count - before
                assert received == n, (received, n)
                figures[workers] = elapsed
                rss[workers] = max(tree_peak_rss_mb(p.pid) for p in processes)
            finally:
                for p in processes:
                    _stop(p)
    finally:
        sink.stop()
        app.close()
    one = result(
        "celery_1",
        f"Celery: email activity, {n:,} messages, 1 worker process",
        "messages/s",
        n,
        figures[1],
        n,
        figures[1],
        "(reference for the 2-worker row)",
    )
    one["ratio"] = None
    one["peak_rss_mb"] = round(rss[1], 1)
    two = result(
        "celery_2",
        f"Celery: email activity, {n:,} messages, 2 worker processes",
        "messages/s",
        n,
        figures[2],
        n,
        figures[1],
        "1 worker process (ratio = scaling)",
    )
    two["peak_rss_mb"] = round(rss[2], 1)
    emit({"case": "celery", "rows": [one, two]})


RECOVERY_BATCH = 100
RECOVERY_DELAY = 0.05  # seconds per message at the sink: a batch lasts about 5 s


def case_recovery(size: int) -> None:
    """A Celery worker SIGKILLed in the middle of a batch, with the default lease and tick:
    seconds from the kill until the other worker has sent every message the dead one had not
    started (PostgreSQL + Redis, two workers and beat, each worker with a sink of its own)."""
    import signal

    from drumbeat.automation.engine.leases import lease_length
    from drumbeat.automation.tasks import EXECUTE_DUE
    from drumbeat.celery import app

    broker = os.environ["BENCH_BROKER_URL"]
    app.conf.broker_url = broker
    n = LATENCY_EVENTS  # the Pingville contacts: two batches of RECOVERY_BATCH
    sinks = [Sink(delay=RECOVERY_DELAY, keep_times=n) for _ in range(2)]
    home = settings.HOME
    env = {**os.environ, "DRUMBEAT_BROKER_URL": broker, "DRUMBEAT_BATCH_SIZE": str(RECOVERY_BATCH)}
    processes: list[subprocess.Popen] = []
    try:
        for w, sink in enumerate(sinks):
            worker_env = {**env, "DRUMBEAT_EMAIL_URL": f"smtp://127.0.0.1:{sink.port}?timeout=30"}
            processes.append(_celery(*_worker_args(f"recovery{w}"), env=worker_env))
        _wait_for_workers(app, 2)
        processes.append(_celery("beat", "-s", str(home / "recovery-beat"), env=env))
        pingville = [["city", "=", "Pingville"]]
        campaign = make_campaign("Bench: recovery", "contacts.contact", pingville)
        activity = add_activity(campaign, kind="email", template=make_template("Recovery email"))
        start(campaign)
        enroll_campaign(campaign)
        app.send_task(EXECUTE_DUE, args=[activity.pk])  # one batch each (the first asks for help)
        while max(sink.count for sink in sinks) < RECOVERY_BATCH // 5:
            time.sleep(0.01)
        victim = 0 if sinks[0].count >= sinks[1].count else 1
        processes[victim].send_signal(signal.SIGKILL)
        killed_at = time.time()
        processes[victim].wait()
        sent_before_kill = sinks[victim].count
        deadline = time.monotonic() + 600
        while Trace.objects.filter(activity=activity).exclude(state__in=FINAL).exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the killed worker's batch was not recovered")
            time.sleep(0.1)
        survivor = sinks[1 - victim]
        survivor.wait_for(n, timeout=5)
        times = survivor.times()
        interrupted = Trace.objects.filter(activity=activity, reason="interrupted").count()
        processed = Trace.objects.filter(activity=activity, state="processed").count()
        received = sum(sink.count for sink in sinks)
    finally:
        for process in processes:
            process.kill()
            process.wait()
        for sink in sinks:
            sink.stop()
        app.close()
    # The survivor sent its own batch first, then (after the lease) the dead one's rest.
    recovered = times[RECOVERY_BATCH:]
    emit(
        {
            "case": "recovery",
            "label": f"Celery worker killed mid-batch ({n} messages, batch {RECOVERY_BATCH})",
            "lease_s": lease_length().total_seconds(),
            "tick_s": float(settings.TICK_SECONDS),
            "seconds": round(recovered[-1] - killed_at, 1) if recovered else None,
            "resumed_s": round(recovered[0] - killed_at, 1) if recovered else None,
            "unsent_at_kill": RECOVERY_BATCH - sent_before_kill,
            "recovered": len(recovered),
            "interrupted": interrupted,
            "duplicates": max(0, received - processed - interrupted),
            "peak_rss_mb": own_peak_rss_mb(),
        }
    )


CASES = {
    "seed": seed,
    "enrol": case_enrol,
    "add_tag": case_add_tag,
    "set_priority": case_set_priority,
    "email": case_email,
    "email_capped": case_email_capped,
    "tracking": case_tracking,
    "latency": case_latency,
    "celery": case_celery,
    "recovery": case_recovery,
}

if __name__ == "__main__":
    CASES[sys.argv[1]](int(sys.argv[2]))
