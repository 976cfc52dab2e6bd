"""GET /api/v1/messages: the messages sent, with their bounces, complaints and inbound events."""

from datetime import timedelta

import pytest
from django.utils import timezone

from drumbeat.mailing import events
from drumbeat.mailing.models import InboundEvent, Message

pytestmark = pytest.mark.django_db


def make_message(n: int, recipient: str, campaign: int = 1, **fields) -> Message:
    return Message.objects.create(
        channel="email",
        recipient=recipient,
        message_id=f"<m{n}@example.org>",
        token=f"{n:032x}",
        campaign_id=campaign,
        activity_id=campaign * 10,
        state=Message.State.SENT,
        sent_at=timezone.now() - timedelta(hours=n),
        **fields,
    )


@pytest.fixture
def sent():
    ann = make_message(1, "ann@example.com")
    bob = make_message(2, "bob@example.net")
    cid = make_message(3, "cid@example.com", campaign=2)
    now = timezone.now()
    events.mark_bounced(ann.pk, now, "hard", "550 5.1.1 User unknown", "user_unknown")
    events.record_inbound_events(
        [
            InboundEvent(
                message=ann,
                kind="bounce",
                at=now,
                bounce_kind="hard",
                category="user_unknown",
                status="5.1.1",
                smtp_code=550,
                diagnostic="550 5.1.1 User unknown",
            )
        ]
    )
    events.mark_bounced(bob.pk, now, "block", "554 5.7.1 blocked using Spamhaus", "policy")
    events.mark_complained_many([cid.pk], now)
    return ann, bob, cid


def test_it_lists_messages_with_their_outcomes_and_inbound_events(admin_api, sent):
    ann, _, _ = sent

    r = admin_api.get("messages", ordering="id")

    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 3
    first = body["items"][0]
    assert (first["id"], first["state"], first["bounce_kind"], first["bounce_category"]) == (
        ann.pk,
        "bounced",
        "hard",
        "user_unknown",
    )
    assert first["failure_reason"] == "550 5.1.1 User unknown"
    assert [(e["kind"], e["status"], e["category"]) for e in first["inbound_events"]] == [
        ("bounce", "5.1.1", "user_unknown")
    ]
    second, third = body["items"][1:]
    assert (second["state"], second["bounce_kind"], second["bounced_at"]) == (
        "sent",
        "block",
        None,
    )
    assert third["complained_at"] is not None and third["state"] == "sent"


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"campaign": 2}, ["cid@example.com"]),
        ({"activity": 10}, ["ann@example.com", "bob@example.net"]),
        ({"recipient": "Bob@Example.net"}, ["bob@example.net"]),
        ({"state": "bounced"}, ["ann@example.com"]),
        ({"domain": '[["bounce_kind", "=", "block"]]'}, ["bob@example.net"]),
        ({"domain": '[["complained_at", "!=", false]]'}, ["cid@example.com"]),
    ],
)
def test_it_filters_messages(marketing_api, sent, query, expected):
    r = marketing_api.get("messages", ordering="recipient", **query)

    assert r.status_code == 200, r.json()
    assert [m["recipient"] for m in r.json()["items"]] == expected


def test_it_reads_one_message_and_404s_an_unknown_one(admin_api, sent):
    ann, _, _ = sent

    assert admin_api.get(f"messages/{ann.pk}").json()["recipient"] == "ann@example.com"
    r = admin_api.get("messages/999999")
    assert r.status_code == 404 and "no message with id 999999" in r.json()["detail"]


@pytest.mark.parametrize(
    "query",
    [{"state": "lost"}, {"campaign": "x"}, {"domain": '[["nope", "=", 1]]'}, {"limit": 0}],
)
def test_it_refuses_bad_filters_with_400_or_422(admin_api, sent, query):
    r = admin_api.get("messages", **query)

    assert r.status_code in (400, 422)
    assert r.json()["detail"]


def test_it_needs_credentials(anonymous_api, sent):
    assert anonymous_api.get("messages").status_code == 401
