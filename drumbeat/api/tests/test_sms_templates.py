"""SMS templates over the API: the opt-out footer and the count of the text as sent."""

import pytest

pytestmark = pytest.mark.django_db


def test_it_stores_the_footer_and_counts_the_sms_as_sent(marketing_api, settings):
    settings.BASE_URL = "https://go.example"  # short links: https://go.example/s/XXXXXXXX (29)
    r = marketing_api.post(
        "templates",
        {
            "name": "Sale",
            "kind": "sms",
            "target": "contacts.contact",
            "body_text": "Sale! https://example.com/spring-sale-2026 or https://ex.co",
        },
    )
    assert r.status_code == 201, r.json()
    created = r.json()
    # "Sale! " + 29 + " or https://ex.co": 6 + 29 + 17 (the short URL stays as written)
    assert created["sms_optout_footer"] is False
    assert created["sms_count"] == {
        "characters": 52,
        "encoding": "GSM-7",
        "units": 52,
        "segments": 1,
    }

    r = marketing_api.patch(f"templates/{created['id']}", {"sms_optout_footer": True})

    assert r.status_code == 200
    assert r.json()["sms_optout_footer"] is True
    assert r.json()["sms_count"]["characters"] == 52 + 1 + len("Reply STOP to opt out")


def test_email_templates_have_no_sms_count(marketing_api):
    r = marketing_api.post(
        "templates",
        {"name": "Hi", "target": "contacts.contact", "subject": "Hi", "body_html": "<p>Hi</p>"},
    )
    assert r.status_code == 201 and r.json()["sms_count"] is None


def test_it_counts_ucs2_sms(marketing_api):
    r = marketing_api.post(
        "templates",
        {"name": "Ça", "kind": "sms", "target": "contacts.contact", "body_text": "ça " * 24},
    )
    # 72 characters less the last space, some outside GSM-7 (ç): UCS-2, 67 units a segment
    assert r.json()["sms_count"] == {
        "characters": 71,
        "encoding": "UCS-2",
        "units": 71,
        "segments": 2,
    }


def test_it_refuses_a_footer_flag_that_is_not_a_boolean(marketing_api):
    r = marketing_api.post(
        "templates",
        {
            "name": "Sale",
            "kind": "sms",
            "target": "contacts.contact",
            "body_text": "Sale",
            "sms_optout_footer": "perhaps",
        },
    )
    assert r.status_code == 422
    assert "sms_optout_footer" in str(r.json())
