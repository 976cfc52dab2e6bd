"""Benchmark cases of the user paths that enrol (issue 18, goal 1), run by run.py like cases.py:
`python -m bench.cases_paths CASE SIZE`.

Each times the real path next to the raw limit of the same rows in the same process: one
`INSERT … SELECT` of the participants, then one of their begin traces, into the product's
tables (their own columns and indexes).

Each is measured ROUNDS times alternately with the raw statements (best time of each).

- `enrol_start`: `POST /api/v1/campaigns/{id}/start` of a Tag Hot Contacts campaign (from the
  campaign template), through Django's test client with a bearer token: every check, log
  line, webhook emission and the response the API makes.
- `enrol_import`: the enrolment an import makes: after its commit, the import service reports
  the created ids through `hooks.records_changed` in chunks of REPORT_CHUNK
  (importer/writing.py), and the engine's listener enrols them in every running campaign on
  contacts. (The CSV parsing
  before it is the import's own work, not enrolment.)
- `enrol_sync`: one pass of the periodic filter sync (`sync_forever`: the goal check, then
  the sync of every running campaign) finding a running campaign's records all new.
"""

from __future__ import annotations

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drumbeat.settings")
django.setup()

from django.db import connection, transaction  # noqa: E402

from bench.cases import db_now, result, table, timed  # noqa: E402
from bench.common import emit  # noqa: E402
from drumbeat.automation.models import Campaign, Participant, Trace  # noqa: E402
from drumbeat.contacts.models import Contact  # noqa: E402

RAW_LABEL = "INSERT … SELECT participants, then traces"


def raw_enrolment(campaign: Campaign, activity_id: int) -> int:
    """The raw limit: participants for every contact, then their traces, two statements."""
    now = db_now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table(Participant)} (campaign_id, record_id, unique_key, state,"
            f" is_test, enrolled_at) SELECT %s, id, lower(trim(email)), 'running', %s, %s"
            f" FROM {table(Contact)} ORDER BY id",
            [campaign.pk, False, now],
        )
        rows = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {table(Trace)} (participant_id, activity_id, state, scheduled_at,"
            f" reason, is_test, created_at) SELECT id, %s, 'scheduled', %s, '', is_test, %s"
            f" FROM {table(Participant)} WHERE campaign_id = %s ORDER BY id",
            [activity_id, now, now, campaign.pk],
        )
        return rows + cursor.rowcount


def forget(campaign: Campaign) -> None:
    """Delete a campaign's traces and participants (raw: the ORM would load them), then it."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table(Trace)} WHERE participant_id IN"
            f" (SELECT id FROM {table(Participant)} WHERE campaign_id = %s)",
            [campaign.pk],
        )
        cursor.execute(f"DELETE FROM {table(Participant)} WHERE campaign_id = %s", [campaign.pk])
    campaign.delete()


def hot_contacts(name: str) -> Campaign:
    """A New Tag Hot Contacts campaign, as the template gallery creates it."""
    from drumbeat.automation.campaign_templates import instantiate

    return instantiate("tag_hot_contacts", name=name)


def measure_raw() -> tuple[int, float]:
    """Raw enrolment into a throw-away campaign with one begin activity."""
    campaign = hot_contacts("raw enrolment")
    activity = campaign.activities.get(parent__isnull=True)
    rows, seconds = timed(raw_enrolment, campaign, activity.pk)
    forget(campaign)
    return rows, seconds


def others_paused():
    """Stop the other running campaigns for the measurement (a sync or an import enrols in
    every running campaign); returns a function restoring them."""
    ids = list(Campaign.objects.filter(state=Campaign.State.RUNNING).values_list("pk", flat=True))
    Campaign.objects.filter(pk__in=ids).update(state=Campaign.State.STOPPED)
    return lambda: Campaign.objects.filter(pk__in=ids).update(state=Campaign.State.RUNNING)


ROUNDS = 3  # raw and product alternately, the best time of each (the machine is shared)


def counted(campaign: Campaign) -> int:
    participants = Participant.objects.filter(campaign=campaign).count()
    traces = Trace.objects.filter(participant__campaign=campaign).count()
    return participants + traces


def measure(case: str, label: str, enrol) -> None:
    """`enrol(campaign)` (the path, timed) on a fresh Tag Hot Contacts campaign, ROUNDS times
    alternately with the raw statements; the product's rows must equal the raw ones."""
    product_s = raw_s = float("inf")
    for round_ in range(ROUNDS):
        raw_rows, seconds = measure_raw()
        raw_s = min(raw_s, seconds)
        restore = others_paused()
        campaign = hot_contacts(f"Bench: {case} {round_}")
        try:
            product_s = min(product_s, enrol(campaign))
        finally:
            restore()
        rows = counted(campaign)
        assert rows == raw_rows, (case, rows, raw_rows)
        forget(campaign)
    emit(result(case, label, "rows/s", rows, product_s, raw_rows, raw_s, RAW_LABEL))


def running(campaign: Campaign) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.RUNNING)


def case_enrol_start(size: int) -> None:
    """POST /api/v1/campaigns/{id}/start, enrolling every contact at once."""
    from django.test import Client

    from drumbeat.accounts.models import ApiToken, User

    user = User.objects.create_user("bench-start", "start@example.org", "x", role="admin")
    token = ApiToken.issue(user, "bench")[1]
    client = Client(headers={"Authorization": f"Bearer {token}"})

    def start(campaign: Campaign) -> float:
        # A server has its URLconf and API schemas loaded before its first request.
        assert client.get(f"/api/v1/campaigns/{campaign.pk}").status_code == 200
        response, seconds = timed(client.post, f"/api/v1/campaigns/{campaign.pk}/start")
        assert response.status_code == 200, response.content[:500]
        Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.STOPPED)
        return seconds

    label = f"Enrolment by Start (API), Tag Hot Contacts on {size:,} contacts"
    measure("enrol_start", label, start)


def case_enrol_import(size: int) -> None:
    """The import's report of created ids (chunks of REPORT_CHUNK) to a running campaign."""
    from drumbeat.importer import _report_changed

    ids = list(Contact.objects.order_by("pk").values_list("pk", flat=True))

    def report(campaign: Campaign) -> float:
        running(campaign)
        seconds = timed(_report_changed, "contacts.contact", ids)[1]
        Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.STOPPED)
        return seconds

    label = f"Enrolment of {size:,} imported contacts (records_changed, Tag Hot Contacts)"
    measure("enrol_import", label, report)


def case_enrol_sync(size: int) -> None:
    """One pass of the periodic filter sync (goal check + sync of every running campaign)."""
    from drumbeat.automation.engine.enroll import enroll_running_campaigns
    from drumbeat.automation.goals import check_goals

    def sync_pass(campaign: Campaign) -> float:
        running(campaign)
        started = time.perf_counter()
        check_goals()
        enroll_running_campaigns()
        seconds = time.perf_counter() - started
        Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.STOPPED)
        return seconds

    label = f"Enrolment by the periodic filter sync, Tag Hot Contacts on {size:,} contacts"
    measure("enrol_sync", label, sync_pass)


CASES = {
    "enrol_start": case_enrol_start,
    "enrol_import": case_enrol_import,
    "enrol_sync": case_enrol_sync,
}

if __name__ == "__main__":
    CASES[sys.argv[1]](int(sys.argv[2]))
