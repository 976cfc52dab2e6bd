"""The tracking routes in serving mode (`drumbeat serve`): hits answered at once, written in
batches by a flusher thread with a constant number of statements, lookups cached; the access
log leaves out the answered ones."""

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from gunicorn.config import Config

from drumbeat.lib import hooks
from drumbeat.mailing import tracking
from drumbeat.mailing.events import Hit, record_hits
from drumbeat.mailing.models import Click, Link, Message, ShortLink, Template
from drumbeat.mailing.tokens import make_token
from drumbeat.web.serving import AccessLogger

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
BROWSER = {"HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}


@pytest.fixture
def heard():
    seen: list[hooks.MessageEvent] = []
    hooks.listen_message_event(seen.append)
    yield seen
    hooks._message_listeners.remove(seen.append)


@pytest.fixture
def serving():
    """Serving mode with batches written only when stopped (or full): deterministic."""
    yield tracking.start(delay=3600)
    tracking.stop()


@pytest.fixture
def template():
    return Template.objects.create(name="News", kind="email", subject="News", body_html="<p>Hi</p>")


def make_message(template, activity_id=7, sent_ago=timedelta(hours=1), n=0) -> Message:
    return Message.objects.create(
        channel="email",
        template=template,
        activity_id=activity_id,
        recipient=f"ann{n}@example.com",
        message_id=f"<m{n}.{activity_id}@example.org>",
        token=make_token(),
        state=Message.State.SENT,
        sent_at=timezone.now() - sent_ago,
    )


def make_link(template, activity_id=7, url="https://example.com/offer") -> Link:
    return Link.objects.create(
        url=url, code=make_token()[:8], template=template, activity_id=activity_id
    )


def kinds(events) -> list[tuple[str, bool]]:
    return [(e.kind, e.machine) for e in events]


def test_it_answers_at_once_and_writes_at_the_stop(client, template, serving, heard):
    message, link = make_message(template), make_link(template)

    assert client.get(f"/t/o/{message.token}", **BROWSER).status_code == 200
    response = client.get(f"/r/{link.code}/{message.token}", **BROWSER)
    assert response.status_code == 302 and response["Location"] == link.url
    message.refresh_from_db()
    assert (message.opened_at, message.clicked_at, heard) == (None, None, [])

    tracking.stop()  # gunicorn's worker_exit

    message.refresh_from_db()
    assert message.opened_at is not None and message.clicked_at > message.opened_at
    click = Click.objects.get()
    assert (click.message_id, click.ip, click.is_machine) == (message.pk, "127.0.0.1", False)
    assert "Firefox" in click.user_agent
    assert kinds(heard) == [("open", False), ("click", False)]


def test_sms_short_links_are_answered_at_once_and_cached(client, template, serving, heard):
    message, link = make_message(template), make_link(template)
    ShortLink.objects.create(code="Ab3dEf9h", message=message, link=link)

    for _ in range(2):
        response = client.get("/s/Ab3dEf9h", **BROWSER)
        assert response.status_code == 302 and response["Location"] == link.url
    ShortLink.objects.all().delete()  # the code stays cached for CACHE_SECONDS
    assert client.get("/s/Ab3dEf9h", **BROWSER).status_code == 302
    assert client.get("/s/Zz9Zz9Zz", **BROWSER).status_code == 404
    assert not Click.objects.exists()

    tracking.stop()

    assert Click.objects.filter(message=message, link=link).count() == 3
    assert kinds(heard) == [("open", False)] + [("click", False)] * 3  # a person's repeats too


def test_it_writes_a_batch_within_its_delay(client, template, heard):
    message = make_message(template)
    tracking.start(delay=0.05)
    try:
        assert client.get(f"/t/o/{message.token}", **BROWSER).status_code == 200
        deadline = time.monotonic() + 5
        while not Message.objects.filter(pk=message.pk, opened_at__isnull=False).exists():
            assert time.monotonic() < deadline, "the open was not written"
            time.sleep(0.02)
    finally:
        tracking.stop()
    assert kinds(heard) == [("open", False)]


def test_it_refuses_forged_and_replayed_tokens_in_serving_mode(client, template, serving):
    message, link = make_message(template), make_link(template)
    other = make_link(template, activity_id=99, url="https://example.com/other")
    forged = message.token[:-1] + ("0" if message.token[-1] != "0" else "1")

    assert client.get(f"/t/o/{message.token}", **BROWSER).status_code == 200  # cached now
    for url in [f"/t/o/{forged}", f"/r/{link.code}/{forged}", f"/r/{other.code}/{message.token}"]:
        assert client.get(url, **BROWSER).status_code == 404, url
    tracking.stop()

    assert not Click.objects.exists()
    assert Message.objects.get(pk=message.pk).clicked_at is None


def test_the_machine_window_holds_for_cached_messages(client, template, serving, heard):
    message = make_message(template, sent_ago=timedelta(seconds=1))

    client.get(f"/t/o/{message.token}", **BROWSER)  # within 10 s of sending: a machine
    with time_machine.travel(timezone.now() + timedelta(seconds=20)):
        client.get(f"/t/o/{message.token}", **BROWSER)  # a person (the message was cached)
    tracking.stop()

    assert kinds(heard) == [("open", True), ("open", False)]


def test_a_message_not_sent_yet_is_read_again(client, template, serving):
    message, link = make_message(template), make_link(template)
    Message.objects.filter(pk=message.pk).update(state=Message.State.OUTGOING, sent_at=None)

    client.get(f"/r/{link.code}/{message.token}", **BROWSER)  # no machine window yet
    Message.objects.filter(pk=message.pk).update(state="sent", sent_at=timezone.now())
    client.get(f"/r/{link.code}/{message.token}", **BROWSER)  # just sent: a machine
    tracking.stop()

    assert list(Click.objects.order_by("at").values_list("is_machine", flat=True)) == [False, True]


@pytest.mark.postgres_only
def test_a_lookup_survives_a_connection_lost_meanwhile(client, template, serving):
    first, second = make_message(template, n=1), make_message(template, n=2)
    assert client.get(f"/t/o/{first.token}", **BROWSER).status_code == 200

    connection.connection.close()  # a database restart, an idle timeout
    assert client.get(f"/t/o/{second.token}", **BROWSER).status_code == 200

    tracking.stop()
    assert Message.objects.filter(opened_at__isnull=False).count() == 2


@pytest.mark.postgres_only
def test_lookups_go_on_unprepared_when_a_pooler_loses_prepared_statements(
    client, template, serving, monkeypatch
):
    monkeypatch.setattr(tracking, "_prepare", True)
    first, second = make_message(template, n=1), make_message(template, n=2)
    assert client.get(f"/t/o/{first.token}", **BROWSER).status_code == 200

    connection.connection.pgconn.exec_(b"DEALLOCATE ALL")  # as on a pooler's other connection
    assert client.get(f"/t/o/{second.token}", **BROWSER).status_code == 200

    assert tracking._prepare is False
    tracking.stop()
    assert Message.objects.filter(opened_at__isnull=False).count() == 2


def test_the_database_decides_which_open_is_the_first(template, heard):
    message = make_message(template)
    machine_open = Hit("open", timezone.now(), True, message.pk)

    record_hits([machine_open])
    record_hits([machine_open])  # another process read "not opened" meanwhile

    assert kinds(heard) == [("open", True)]  # a repeated machine open is not reported


def test_first_events_are_reported_and_repeats_only_from_humans(template, heard):
    message, link = make_message(template), make_link(template)
    at = timezone.now()

    def hit(kind, seconds, machine):
        return Hit(kind, at + timedelta(seconds=seconds), machine, message.pk, link_id=link.pk)

    record_hits(
        [
            hit("click", 1, True),  # the first click: an open too
            hit("open", 2, True),
            hit("open", 3, False),
            hit("click", 4, True),
            hit("click", 5, False),
        ]
    )

    message.refresh_from_db()
    assert message.opened_at == message.clicked_at == at + timedelta(seconds=1)
    assert kinds(heard) == [
        ("open", True),
        ("click", True),
        ("open", False),
        ("click", False),
    ]
    assert Click.objects.count() == 3


def test_a_batch_costs_the_same_statements_for_two_hits_or_two_hundred(template):
    link = make_link(template)
    warm, *messages = [make_message(template, n=n) for n in range(102)]
    at = timezone.now()
    record_hits([Hit("open", at, False, warm.pk)])  # per-process caches loaded (webhooks)

    def statements(batch: list[Message]) -> list[str]:
        hits = []
        for message in batch:
            hits.append(Hit("open", at, False, message.pk))
            ip = "2001:0db8:0000:0000:0000:0000:0000:0001"
            hits.append(Hit("click", at, False, message.pk, link_id=link.pk, ip=ip))
        with CaptureQueriesContext(connection) as queries:
            record_hits(hits)
        # An executemany (SQLite) is logged as "<n> times: <sql>".
        return [q["sql"].split(" times: ")[-1].split()[0] for q in queries.captured_queries]

    assert statements(messages[:1]) == statements(messages[1:])
    assert Message.objects.filter(opened_at=at, clicked_at=at).count() == 101
    assert set(Click.objects.values_list("ip", flat=True)) == {"2001:db8::1"}  # canonical


def test_repeated_opens_write_nothing(template, heard):
    message = make_message(template)
    repeat = Hit("open", timezone.now(), False, message.pk, opened=True)

    with CaptureQueriesContext(connection) as queries:
        record_hits([repeat, repeat])

    assert not [q for q in queries.captured_queries if not q["sql"].startswith("SELECT")]
    assert kinds(heard) == [("open", False), ("open", False)]


def test_the_clicks_of_a_link_deleted_meanwhile_are_dropped_not_the_batch(template):
    message, kept = make_message(template), make_link(template)
    gone = make_link(template, url="https://example.com/gone")
    at = timezone.now()
    hits = [Hit("click", at, False, message.pk, link_id=link.pk) for link in (gone, kept)]
    gone.delete()

    record_hits(hits)

    assert list(Click.objects.values_list("link_id", flat=True)) == [kept.pk]


def test_recent_lookups_are_bounded_and_expire():
    cache = tracking.RecentCache(size=2, seconds=0.05)
    loads = []

    def load(key):
        loads.append(key)
        return key.upper()

    for key in ["a", "b", "a", "c", "a", "b"]:
        assert cache.get(key, load) == key.upper()
    assert loads == ["a", "b", "c", "b"] and len(cache) == 2
    time.sleep(0.06)
    cache.get("a", load)
    assert loads[-1] == "a"


def test_the_access_log_leaves_out_answered_tracking_requests(tmp_path):
    log = tmp_path / "access.log"
    cfg = Config()
    cfg.set("accesslog", str(log))
    cfg.set("access_log_format", '"%(r)s" %(s)s')
    logger = AccessLogger(cfg)

    for path, status in [("/t/o/x", 200), ("/r/c/x", 302), ("/t/o/y", 404), ("/login/", 200)]:
        response = SimpleNamespace(status=f"{status} X", status_code=status, sent=0, headers=[])
        environ = {
            "REQUEST_METHOD": "GET",
            "RAW_URI": path,
            "PATH_INFO": path,
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        logger.access(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=1))

    logged = log.read_text().splitlines()
    assert logged == ['"GET /t/o/y HTTP/1.1" 404', '"GET /login/ HTTP/1.1" 200']
