"""Deleting activities and campaigns with their traces and participants as SQL.

Django's cascade loads the primary keys of every trace and participant into Python and deletes
them a hundred at a time: 13 s for a campaign of 100,000 participants, hours at ten million,
inside a web request. Here each step is one statement over a set, whatever the size, with
the same outcome as the cascade:

- the traces: those of the given activities and, at any depth, the children of those (a
  child may belong to an activity moved elsewhere since), listed once in a temporary table by
  a recursive query; the activity log keeps its entries with the trace link emptied
  (CampaignLog.trace is SET_NULL); then one DELETE;
- a campaign's participants: their split assignments deleted, the log's participant link
  emptied, then one DELETE;
- the activities and the campaign row last, through Django (a handful of rows; the
  activities' post_delete signals keep SplitMember up to date).

The roll-up triggers count what each statement removed, as they do for the cascade's DELETEs
(traces first, then participants: the conversion roll-up reads each trace's participant).
Messages outlive traces (they are the sending history); their `trace_id` is a plain number.
"""

from __future__ import annotations

from django.db import connection, transaction

from .models import Activity, Campaign, CampaignLog, Participant, SplitAssignment, Trace

DOOMED = "drumbeat_doomed_traces"


def _doomed_traces(cursor, activity_sql: str, params: list) -> int:
    """Fill the temporary table DOOMED with the traces of the activities `activity_sql`
    selects and all their descendants; returns how many."""
    traces = Trace._meta.db_table
    key = "bigint PRIMARY KEY" if connection.vendor == "postgresql" else "INTEGER PRIMARY KEY"
    cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {DOOMED} (id {key})")
    cursor.execute(f"DELETE FROM {DOOMED}")
    cursor.execute(
        f"INSERT INTO {DOOMED} (id) WITH RECURSIVE doomed(id) AS ("
        f" SELECT id FROM {traces} WHERE activity_id IN ({activity_sql})"
        f" UNION SELECT t.id FROM {traces} t JOIN doomed d ON t.parent_id = d.id"
        f") SELECT id FROM doomed",
        params,
    )
    return cursor.rowcount


def delete_traces_of(activity_sql: str, params: list) -> int:
    """Delete the traces of the activities `activity_sql` (a SELECT of activity ids) selects,
    and their descendants; returns how many were deleted. In the caller's transaction."""
    with connection.cursor() as cursor:
        found = _doomed_traces(cursor, activity_sql, params)
        if not found:
            return 0
        logs = CampaignLog._meta.db_table
        cursor.execute(
            f"UPDATE {logs} SET trace_id = NULL WHERE trace_id IN (SELECT id FROM {DOOMED})"
        )
        cursor.execute(f"DELETE FROM {Trace._meta.db_table} WHERE id IN (SELECT id FROM {DOOMED})")
        deleted = cursor.rowcount
        cursor.execute(f"DELETE FROM {DOOMED}")
    return deleted


def delete_activities(activity_ids: list[int]) -> None:
    """Delete the activities `activity_ids` (an activity and its descendants) with their
    traces, in the caller's transaction."""
    if not activity_ids:
        return
    marks = ", ".join(["%s"] * len(activity_ids))
    delete_traces_of(
        f"SELECT id FROM {Activity._meta.db_table} WHERE id IN ({marks})", activity_ids
    )
    Activity.objects.filter(pk__in=activity_ids).delete()


def delete_campaign(campaign: Campaign) -> None:
    """Delete `campaign` with its activities, participants, traces and log."""
    activities, participants = Activity._meta.db_table, Participant._meta.db_table
    of_campaign = f"SELECT id FROM {participants} WHERE campaign_id = %s"
    with transaction.atomic():
        delete_traces_of(f"SELECT id FROM {activities} WHERE campaign_id = %s", [campaign.pk])
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {SplitAssignment._meta.db_table}"
                f" WHERE participant_id IN ({of_campaign})",
                [campaign.pk],
            )
            cursor.execute(
                f"UPDATE {CampaignLog._meta.db_table} SET participant_id = NULL"
                f" WHERE participant_id IN ({of_campaign})",
                [campaign.pk],
            )
            cursor.execute(f"DELETE FROM {participants} WHERE campaign_id = %s", [campaign.pk])
        campaign.delete()
