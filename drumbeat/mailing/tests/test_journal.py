"""The send journal: a batch cut short is settled message by message (mailing/journal.py)."""

from __future__ import annotations

import pytest

from drumbeat.mailing import journal
from drumbeat.mailing.models import Message
from drumbeat.mailing.sending import recover_interrupted

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def home(settings, tmp_path):
    settings.HOME = tmp_path
    return tmp_path


def outgoing(trace_id: int) -> Message:
    return Message.objects.create(
        channel="email",
        trace_id=trace_id,
        recipient=f"p{trace_id}@example.com",
        message_id=f"<{trace_id}@example.org>",
        token=f"token{trace_id}",
        state="outgoing",
    )


def test_a_journal_reads_back_what_a_batch_wrote(home):
    batch = journal.Journal([11, 12, 13, 14])
    batch.started(11)
    batch.finished(11, ok=True)
    batch.started(12)
    batch.finished(12, ok=False)
    batch.started(13)

    reading = journal.read_all()

    assert reading.fates == {
        11: journal.ACCEPTED,
        12: journal.FAILED,
        13: journal.STARTED,
        14: journal.PLANNED,
    }
    batch.close()
    assert list((home / "send-journal").iterdir()) == []


def test_a_killed_batch_is_settled_from_its_journal(home):
    accepted, refused, in_flight, never_started = (outgoing(t) for t in (1, 2, 3, 4))
    batch = journal.Journal([m.pk for m in (accepted, refused, in_flight, never_started)])
    batch.started(accepted.pk)
    batch.finished(accepted.pk, ok=True)
    batch.started(refused.pk)
    batch.finished(refused.pk, ok=False)
    batch.started(in_flight.pk)
    # ... the process dies here: nothing more is written, the file stays

    results = recover_interrupted([1, 2, 3, 4])

    assert {t: (r.status, r.reason) for t, r in results.items()} == {
        1: ("sent", ""),
        2: ("retry", ""),
        3: ("error", "interrupted"),
        4: ("retry", ""),
    }
    states = dict(Message.objects.values_list("trace_id", "state"))
    assert states == {1: "sent", 2: "deferred", 3: "error", 4: "deferred"}
    assert Message.objects.get(trace_id=1).sent_at is not None
    # every message of the file is settled: the file is gone
    assert list((home / "send-journal").iterdir()) == []


def test_a_message_in_no_journal_stays_interrupted(home):
    outgoing(1)  # its batch ran on another machine, or before journals existed

    results = recover_interrupted([1])

    assert (results[1].status, results[1].reason) == ("error", "interrupted")
    assert Message.objects.get(trace_id=1).state == "error"


def test_the_journal_of_a_batch_still_sending_is_kept(home):
    mine = outgoing(1)
    theirs = outgoing(2)  # another process is sending this one right now
    journal.Journal([mine.pk]).started(mine.pk)
    live = journal.Journal([theirs.pk])

    recover_interrupted([1])

    files = list((home / "send-journal").iterdir())
    assert files == [live.path]


def test_an_uncertain_delivery_and_a_released_message_are_settled_apart(home):
    uncertain, released = outgoing(1), outgoing(2)
    batch = journal.Journal([uncertain.pk, released.pk])
    batch.started(uncertain.pk)
    batch.finished(uncertain.pk, ok=False, uncertain=True)  # the reply to DATA never came
    batch.started(released.pk)
    batch.released(released.pk)  # the batch lost its lease before this send
    batch.close(keep=True)  # a batch that lost its lease leaves its journal to the recovery

    results = recover_interrupted([1, 2])

    assert {t: (r.status, r.reason) for t, r in results.items()} == {
        1: ("error", "uncertain delivery"),
        2: ("retry", ""),
    }
    assert dict(Message.objects.values_list("trace_id", "state")) == {1: "error", 2: "deferred"}
    assert list((home / "send-journal").iterdir()) == []
