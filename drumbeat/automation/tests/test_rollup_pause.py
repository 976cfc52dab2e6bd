"""The pause of the roll-up triggers (`rollups.paused`), on SQLite and PostgreSQL alike: inside
the block an UPDATE is left for its caller to count; the block's end, normal or by an error
(a Python one, or a failed statement rolled back to its savepoint), resumes counting in the
same transaction; outside a transaction there is no pause at all. The engine's set-based
batches count what they move themselves under it (test_setbatch.py)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from drumbeat.automation import rollups, services
from drumbeat.automation.models import Trace

from .fixtures import add_action, make_action, make_campaign, make_contacts
from .rollup_check import differences

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def traces(clock, bob) -> list[int]:
    """Three scheduled traces of a running campaign (the roll-ups equal to them)."""
    make_contacts(3)
    campaign = make_campaign(bob)
    add_action(campaign, action=make_action(field="city", operation="set", value="Ghent"))
    services.start_campaign(campaign, bob)
    ids = sorted(Trace.objects.filter(participant__campaign=campaign).values_list("id", flat=True))
    assert len(ids) == 3 and differences() == {}
    return ids


def cancel(pk: int) -> None:
    Trace.objects.filter(pk=pk).update(state=Trace.State.CANCELLED)


def test_inside_the_block_an_update_is_left_to_its_caller(traces):
    with transaction.atomic():
        with connection.cursor() as cursor, rollups.paused(cursor) as counting:
            assert counting
            cancel(traces[0])
        # Not counted: the rows say 2 scheduled and 1 cancelled, the roll-up still 3 and 0.
        activity = Trace.objects.get(pk=traces[0]).activity_id
        assert differences() == {
            "traces": {
                f"({activity}, 'scheduled', False, 0)": (2, 3),
                f"({activity}, 'cancelled', False, 0)": (1, 0),
            }
        }
        transaction.set_rollback(True)
    assert differences() == {}


def test_counting_resumes_when_the_block_ends(traces):
    with transaction.atomic():
        with connection.cursor() as cursor, rollups.paused(cursor):
            pass
        cancel(traces[0])
        assert differences() == {}


def test_an_error_in_the_block_ends_the_pause(traces):
    with transaction.atomic():
        with (
            pytest.raises(ValueError),
            connection.cursor() as cursor,
            rollups.paused(cursor),
        ):
            raise ValueError("the caller's own error")
        cancel(traces[0])
        assert differences() == {}


def test_a_failed_statement_rolled_back_to_its_savepoint_ends_the_pause(traces):
    with transaction.atomic():
        with (
            pytest.raises(DatabaseError),
            connection.cursor() as cursor,
            transaction.atomic(),
            rollups.paused(cursor),
        ):
            cursor.execute("SELECT * FROM no_such_table")
        cancel(traces[1])
        assert differences() == {}


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_nothing_is_paused(traces):
    with connection.cursor() as cursor, rollups.paused(cursor) as counting:
        assert not counting
        cancel(traces[2])
    assert differences() == {}
