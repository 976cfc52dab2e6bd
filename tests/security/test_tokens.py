"""Forged, altered, unknown or cross-message tokens on every public route: 404, nothing
changes (docs/product.md#tracking: "cannot be guessed, forged or replayed onto another message")."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from drumbeat.mailing.models import Click, EmailBlacklist, Link, Message, PhoneBlacklist
from drumbeat.mailing.tokens import NONCE_LENGTH, SIGNATURE_LENGTH, make_token

from .conftest import BROWSER

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def snapshot() -> tuple:
    messages = tuple(
        Message.objects.order_by("pk").values_list(
            "pk", "state", "opened_at", "clicked_at", "replied_at", "bounced_at"
        )
    )
    return (
        messages,
        Click.objects.count(),
        tuple(EmailBlacklist.objects.values_list("email", "active")),
        tuple(PhoneBlacklist.objects.values_list("number", "active")),
    )


def flip_last(token: str) -> str:
    return token[:-1] + ("0" if token[-1] != "0" else "1")


def signed_with_another_key(nonce: str) -> str:
    signature = hmac.new(b"not-our-secret", nonce.encode(), hashlib.sha256).hexdigest()
    return nonce + signature[:SIGNATURE_LENGTH]


def bad_tokens(real: str) -> dict[str, str]:
    return {
        "altered signature": flip_last(real),
        "altered nonce": ("f" if real[0] != "f" else "e") + real[1:],
        "signed with another key": signed_with_another_key(real[:NONCE_LENGTH]),
        "valid but unknown": make_token(),
        "truncated": real[:-2],
        "extended": real + "00",
        "sql": "' OR '1'='1",
        "nonce only": real[:NONCE_LENGTH],
    }


ROUTES = [
    ("get", "/t/o/{token}"),
    ("get", "/v/{token}"),
    ("get", "/u/{token}"),
    ("post", "/u/{token}"),
    ("post", "/u/{token}/one-click"),
    ("get", "/sms/stop/{token}"),
    ("post", "/sms/stop/{token}"),
]


@pytest.mark.parametrize("method,route", ROUTES)
def test_it_refuses_forged_and_altered_tokens_on_every_public_route(
    client, sent, sent_sms, method, route
):
    before = snapshot()
    for label, token in bad_tokens(sent.token).items():
        data = {"number": "+15555550103"} if "sms" in route else {}
        response = getattr(client, method)(route.format(token=token), data, **BROWSER)
        assert response.status_code == 404, (label, route, response.status_code)
    assert snapshot() == before


def test_it_refuses_forged_tokens_on_the_click_tracker(client, sent):
    code = Link.objects.get().code
    before = snapshot()
    for label, token in bad_tokens(sent.token).items():
        response = client.get(f"/r/{code}/{token}", **BROWSER)
        assert response.status_code == 404, label
    assert snapshot() == before


def test_it_refuses_a_token_replayed_onto_another_messages_link(client, sent, other_sent):
    carol_link = Link.objects.get(activity_id=7)
    before = snapshot()

    response = client.get(f"/r/{carol_link.code}/{other_sent.token}", **BROWSER)

    assert response.status_code == 404
    assert snapshot() == before


def test_it_acts_only_on_the_message_its_token_names(client, sent, other_sent):
    response = client.post(f"/u/{sent.token}/one-click")

    assert response.status_code == 200
    assert list(EmailBlacklist.objects.values_list("email", flat=True)) == ["carol@example.com"]
    other_sent.refresh_from_db()
    assert other_sent.opened_at is None and other_sent.clicked_at is None


def test_it_does_not_open_an_sms_stop_page_with_an_email_token(client, sent):
    before = snapshot()

    assert client.get(f"/sms/stop/{sent.token}", **BROWSER).status_code == 404
    assert client.post(f"/sms/stop/{sent.token}", {"number": "+15555550103"}).status_code == 404
    assert snapshot() == before


def test_it_does_not_stop_another_number_with_a_valid_sms_token(client, sent_sms):
    response = client.post(f"/sms/stop/{sent_sms.token}", {"number": "+15555550199"})

    assert response.status_code == 200
    assert not PhoneBlacklist.objects.exists()


def test_it_changes_nothing_on_unsubscribe_get(client, sent):
    before = snapshot()

    assert client.get(f"/u/{sent.token}", **BROWSER).status_code == 200
    assert snapshot() == before
