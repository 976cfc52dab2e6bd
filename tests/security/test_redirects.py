"""The click tracker redirects only to the URL recorded for the link (docs/product.md#tracking): no
parameter, path trick or unknown code makes it an open redirect. The login page does not
redirect off-site either."""

from __future__ import annotations

import pytest

from drumbeat.mailing.models import Click, Link

from .conftest import BROWSER, email_template, send_one

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
EVIL = "https://evil.example/phish"


def test_it_ignores_redirect_parameters(client, sent):
    link = Link.objects.get()
    for query in ("next", "url", "redirect", "to", "u", "target"):
        response = client.get(f"/r/{link.code}/{sent.token}?{query}={EVIL}", **BROWSER)
        assert response.status_code == 302
        assert response["Location"] == "https://example.com/offer"
        response = client.get(f"/r/{link.code}?{query}={EVIL}", **BROWSER)
        assert response["Location"] == "https://example.com/offer"


@pytest.mark.parametrize(
    "path",
    [
        "/r/https://evil.example",
        "/r///evil.example",
        "/r/%2F%2Fevil.example",
        "/r/nope/",
        "/r/nope",
        "/r/' OR 1=1 --",
        "/r/{code}x",
        "/r/{code}/../../evil.example",
    ],
)
def test_it_answers_404_for_unknown_codes_and_path_tricks(client, sent, path):
    code = Link.objects.get().code
    response = client.get(path.format(code=code), **BROWSER)
    assert response.status_code == 404
    assert Click.objects.count() == 0


def test_it_does_not_track_javascript_or_data_links(mail_settings, carol):
    template = email_template("Scripted", "javascript:alert(document.cookie)")
    template.body_html += '<a href="data:text/html,<script>alert(1)</script>">x</a>'
    template.save()

    send_one(template, carol, trace_id=10, activity_id=70)

    assert not Link.objects.filter(activity_id=70).exists()


def test_it_redirects_only_to_the_recorded_url_when_several_links_exist(
    client, mail_settings, carol
):
    template = email_template("Two", "https://example.com/one")
    template.body_html += '<a href="https://example.com/two">two</a>'
    template.save()
    message = send_one(template, carol, trace_id=11, activity_id=71)

    for link in Link.objects.filter(activity_id=71):
        response = client.get(f"/r/{link.code}/{message.token}", **BROWSER)
        assert response["Location"] == link.url
    assert {link.url for link in Link.objects.filter(activity_id=71)} == {
        "https://example.com/one",
        "https://example.com/two",
    }


@pytest.mark.parametrize(
    "target", [EVIL, "//evil.example", "https:evil.example", "/\\evil.example"]
)
def test_it_does_not_redirect_off_site_after_login(client, bob, target):
    response = client.post(
        f"/login/?next={target}",
        {"username": "bob", "password": "pw-bob-long-enough"},
    )
    assert response.status_code == 302
    location = response["Location"]
    assert "evil.example" not in location
