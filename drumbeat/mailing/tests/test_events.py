from datetime import UTC, datetime

import pytest
from django.db import transaction

from drumbeat.lib import hooks
from drumbeat.mailing import events
from drumbeat.mailing.models import Message

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
AT = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


@pytest.fixture
def seen():
    got: list[hooks.MessageEvent] = []
    hooks.listen_message_event(got.append)
    yield got
    hooks._message_listeners.remove(got.append)


def make(n=1, channel="email"):
    return [
        Message.objects.create(
            channel=channel,
            recipient=f"r{i}@example.com",
            message_id=f"<{channel}{i}@x>",
            token=f"{channel}{i}",
            state=Message.State.SENT,
        )
        for i in range(n)
    ]


def test_it_reports_only_after_commit(seen, django_capture_on_commit_callbacks):
    (message,) = make()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        events.mark_opened([message.pk], AT)
    assert seen == []
    for callback in callbacks:
        callback()

    assert seen == [hooks.MessageEvent("open", (message.pk,), AT, False)]


def test_it_reports_nothing_when_the_transaction_rolls_back(
    seen, django_capture_on_commit_callbacks
):
    (message,) = make()

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        events.mark_clicked(message.pk, AT)
        raise RuntimeError

    assert seen == []
    message.refresh_from_db()
    assert message.clicked_at is None


def test_a_reply_implies_an_open_once(seen, django_capture_on_commit_callbacks):
    (message,) = make()

    with django_capture_on_commit_callbacks(execute=True):
        events.mark_replied(message.pk, AT)
        events.mark_replied(message.pk, AT.replace(hour=11))

    message.refresh_from_db()
    assert message.opened_at == AT and message.replied_at == AT
    assert [e.kind for e in seen] == ["open", "reply", "reply"]


def test_it_keeps_the_first_open_time(seen):
    (message,) = make()

    events.mark_opened([message.pk], AT)
    events.mark_opened([message.pk], AT.replace(hour=12))

    message.refresh_from_db()
    assert message.opened_at == AT


def test_it_passes_the_machine_flag(seen, django_capture_on_commit_callbacks):
    messages = make(2)

    with django_capture_on_commit_callbacks(execute=True):
        events.mark_opened([m.pk for m in messages], AT, machine=True)

    assert seen == [hooks.MessageEvent("open", tuple(sorted(m.pk for m in messages)), AT, True)]


def test_it_bounces_sms_without_blacklisting(seen, django_capture_on_commit_callbacks):
    (sms,) = make(channel="sms")

    with django_capture_on_commit_callbacks(execute=True):
        assert events.mark_bounced(sms.pk, AT, "hard", "unreachable")

    sms.refresh_from_db()
    assert (sms.state, sms.bounce_kind) == (Message.State.BOUNCED, "hard")
    assert [e.kind for e in seen] == ["bounce"]


def test_it_ignores_unknown_messages(seen):
    assert events.mark_opened([999999], AT) == []
    assert not events.mark_clicked(999999, AT)
    assert not events.mark_replied(999999, AT)
    assert not events.mark_bounced(999999, AT)
