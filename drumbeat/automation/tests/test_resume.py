"""Claims resume where the previous batch of the activity stopped (engine/resume.py).

On PostgreSQL a claim starts past the last row of the previous full batch, so it does not walk
the index entries of the traces claimed before (kept until VACUUM); it never hides a due trace:
every claim takes min(batch, due traces), and a trace that became due before that point is
taken when the rows past it run out. On SQLite the claims read from the start, as before.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection

from drumbeat.automation import services
from drumbeat.automation.engine import execute, resume
from drumbeat.automation.engine.execute import claim_due, execute_batch
from drumbeat.automation.models import Activity, Trace
from drumbeat.contacts.models import Contact

from .fixtures import START, add_action, make_action, make_campaign, make_contacts

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NOW = START + timedelta(hours=1)
PATHS = {
    "set-based action": "Ghent",  # one UPDATE for the batch (setbatch.py)
    "per-record action": "{{ 'Ghent' }}",  # a template value: rendered per record
}


def due_campaign(bob, contacts: int, value: str = "Ghent") -> Activity:
    """A running campaign whose one action (setting `city` to `value`) is due for everyone,
    each participant one minute later than the one before."""
    make_contacts(contacts)
    campaign = make_campaign(bob, name=f"Resume {value}")
    step = add_action(campaign, action=make_action(field="city", operation="set", value=value))
    services.start_campaign(campaign, bob)
    for i, pk in enumerate(Trace.objects.filter(activity=step).order_by("id").values("pk")):
        Trace.objects.filter(**pk).update(scheduled_at=START + timedelta(minutes=i))
    return Activity.objects.select_related("campaign", "server_action").get(pk=step.pk)


@pytest.mark.parametrize("path", list(PATHS))
def test_a_trace_due_before_where_the_last_batch_stopped_is_still_taken(bob, path):
    step = due_campaign(bob, 30, PATHS[path])
    assert execute.is_set_based(step) == (path == "set-based action")
    assert execute_batch(step, NOW, 10) == 10  # the first ten, oldest first
    # The last trace becomes due first, before the point the next claim starts from.
    last = Trace.objects.filter(activity=step).order_by("-id").first()
    Trace.objects.filter(pk=last.pk).update(scheduled_at=START - timedelta(days=1))
    taken = [execute_batch(step, NOW, 10) for _ in range(3)]
    assert taken == [10, 10, 0]  # each claim takes min(batch, due): nothing left behind
    states = list(Trace.objects.filter(activity=step).values_list("state", flat=True))
    assert states == ["processed"] * 30
    assert set(Contact.objects.values_list("city", flat=True)) == {"Ghent"}


def test_claims_with_leases_take_every_due_trace_once(bob):
    """The claim of sending steps (leases, `claim_due`): the same guarantees."""
    step = due_campaign(bob, 25)
    first = claim_due(step, NOW, 10).trace_ids
    newest = Trace.objects.filter(activity=step, state="scheduled").order_by("-id").first()
    Trace.objects.filter(pk=newest.pk).update(scheduled_at=START - timedelta(days=1))
    batches = [first] + [claim_due(step, NOW, 10).trace_ids for _ in range(3)]
    assert [len(b) for b in batches] == [10, 10, 5, 0]
    claimed = [pk for batch in batches for pk in batch]
    every = Trace.objects.filter(activity=step).values_list("pk", flat=True)
    assert sorted(claimed) == sorted(every)
    assert newest.pk in batches[1] + batches[2]


@pytest.mark.postgres_only
def test_a_point_is_used_for_a_limited_time(bob, monkeypatch):
    """While batches fill past the point, a trace due before it waits; once the point is
    older than its lifetime the next claim reads from the start and takes it first."""
    step = due_campaign(bob, 40)
    assert execute_batch(step, NOW, 10) == 10
    last = Trace.objects.filter(activity=step).order_by("-id").first()
    Trace.objects.filter(pk=last.pk).update(scheduled_at=START - timedelta(days=1))
    assert execute_batch(step, NOW, 10) == 10  # the ten past the point
    assert Trace.objects.get(pk=last.pk).state == "scheduled"
    monkeypatch.setattr(resume, "LIFETIME", -1.0)  # every point has had its time
    assert execute_batch(step, NOW, 10) == 10
    assert Trace.objects.get(pk=last.pk).state == "processed"  # the oldest, first


@pytest.mark.postgres_only
def test_a_claim_does_not_walk_the_entries_of_the_traces_claimed_before(bob):
    """PostgreSQL keeps the due-index entries of claimed traces until VACUUM: a claim reading
    from the index's start walks over every one of them, more each batch (read from the
    start, the 20th claim's scan read 45 blocks, the 2nd's 8). Read with auto_explain: the
    due-index scan of the 20th claim reads about as much as the 2nd's (4 to 6 blocks each)."""
    step = due_campaign(bob, 2000)
    plans: list[dict] = []

    def logged(notice) -> None:
        text = notice.message_primary or ""
        if "{" in text and "trace_activity_due" in text:
            plans.append(json.loads(text[text.index("{") :])["Plan"])

    connection.connection.add_notice_handler(logged)  # LOG messages reach the client
    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        for setting in ("log_min_duration = 0", "log_analyze = on", "log_buffers = on"):
            cursor.execute(f"SET LOCAL auto_explain.{setting}")
        cursor.execute("SET LOCAL auto_explain.log_format = json")
        cursor.execute("SET LOCAL client_min_messages = log")
    reads = []
    for _ in range(20):
        plans.clear()
        assert execute_batch(step, START + timedelta(days=2), 100) == 100
        scans = [node for plan in plans for node in _due_index_scans(plan)]
        assert scans, "the claim read the due index"
        reads.append(sum(n["Shared Hit Blocks"] + n["Shared Read Blocks"] for n in scans))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL client_min_messages = notice")
    assert reads[19] <= reads[1] + 5, reads


def _due_index_scans(node: dict):
    if node.get("Index Name") == "trace_activity_due":
        yield node
    for child in node.get("Plans", []):
        yield from _due_index_scans(child)
