"""The designer's page and its session-authenticated JSON endpoints (views_templates.py): new
email templates open in the designer, HTML stays one press away; the placeholder picker's list
follows the target; the draft compile endpoint answers bad input with a clear 400/422."""

from __future__ import annotations

import json

import pytest

from drumbeat.mailing.models import Template

pytestmark = pytest.mark.django_db


def test_a_new_email_template_opens_in_the_designer(marketer_client):
    page = marketer_client.get("/configuration/templates/new/email/").content.decode()
    assert 'id="designer"' in page
    assert 'id="designer-data"' in page  # the editor's data, as JSON (no inline script)
    assert "Write HTML instead" in page
    html = marketer_client.get("/configuration/templates/new/email/?mode=html").content.decode()
    assert 'id="designer"' not in html
    assert 'name="body_html"' in html
    sms = marketer_client.get("/configuration/templates/new/sms/").content.decode()
    assert 'id="designer"' not in sms


def test_an_html_template_keeps_the_html_editor(marketer_client):
    template = Template.objects.create(
        name="Plain", kind="email", target="contacts.contact", subject="Hi", body_html="<p>Hi</p>"
    )
    page = marketer_client.get(f"/configuration/templates/{template.pk}/").content.decode()
    assert 'id="designer"' not in page
    assert "&lt;p&gt;Hi&lt;/p&gt;" in page


def test_the_placeholder_list_follows_the_target(marketer_client, contacts):
    response = marketer_client.get("/configuration/templates/placeholders/?target=contacts.contact")
    assert response.status_code == 200
    data = response.json()
    codes = [p["code"] for p in data["placeholders"]]
    assert "{{ record.name }}" in codes and "{{ record.email }}" in codes
    assert len(data["records"]) == 30
    # the newest first, as the preview's record menu lists them
    assert data["records"][0] == {"id": contacts[-1].pk, "name": "Person 29"}
    bad = marketer_client.get("/configuration/templates/placeholders/?target=nope.nope")
    assert bad.status_code == 400
    assert "nope.nope" in bad.json()["error"]


def test_the_compile_endpoint_refuses_bad_input_clearly(marketer_client):
    url = "/configuration/templates/design/compile/"
    not_json = marketer_client.post(url, "{", content_type="application/json")
    assert not_json.status_code == 400
    assert "not JSON" in not_json.json()["error"]
    not_object = marketer_client.post(url, "[1]", content_type="application/json")
    assert not_object.status_code == 400
    target = marketer_client.post(
        url, json.dumps({"target": "nope.nope", "design": {}}), content_type="application/json"
    )
    assert target.status_code == 400
    assert "nope.nope" in target.json()["error"]


def test_the_json_endpoints_need_a_session(client):
    response = client.get("/configuration/templates/placeholders/?target=contacts.contact")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
