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


def design_with(*blocks) -> dict:
    return {
        "version": 1,
        "settings": {},
        "sections": [
            {"id": "s1", "layout": [100], "columns": [{"blocks": list(blocks)}]},
            {
                "id": "s2",
                "layout": [100],
                "columns": [{"blocks": [{"id": "f", "type": "footer", "text": ""}]}],
            },
        ],
    }


IMAGE = {
    "id": "i1",
    "type": "image",
    "src": "https://cdn.example/a.png",
    "alt": "",
    "href": "",
    "width": 560,
    "align": "center",
}
HEADING = {"id": "h1", "type": "heading", "text": "Hi {{ record.name }}", "level": 1}


def test_a_draft_compiles_and_renders_on_the_chosen_record_with_its_checks(
    marketer_client, contacts
):
    response = marketer_client.post(
        "/configuration/templates/design/compile/",
        json.dumps(
            {
                "design": design_with(HEADING, IMAGE),
                "subject": "News for {{ record.name }}",
                "target": "contacts.contact",
                "record": contacts[3].pk,
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 200
    data = response.json()
    assert data["record_name"] == "Person 03"
    assert data["subject"] == "News for Person 03"
    assert "Hi Person 03" in data["html"]
    # the image has no alt: one error, pointing at the block's field
    assert [(c["code"], c["severity"], c["path"]) for c in data["checks"]] == [
        ("image_alt", "error", "sections[0].columns[0].blocks[1].alt")
    ]
    assert not Template.objects.exists()  # a draft: nothing saved


def test_an_invalid_draft_answers_422_naming_the_place(marketer_client):
    bad = dict(IMAGE, width="wide")
    response = marketer_client.post(
        "/configuration/templates/design/compile/",
        json.dumps({"design": design_with(bad), "subject": "Hi", "target": "contacts.contact"}),
        content_type="application/json",
    )
    assert response.status_code == 422
    paths = [c["path"] for c in response.json()["checks"]]
    assert "sections[0].columns[0].blocks[0].width" in paths


def test_saving_an_invalid_design_names_the_block_and_keeps_the_work(marketer_client):
    design = design_with(HEADING, dict(IMAGE, src="javascript:alert(1)", alt="x"))
    response = marketer_client.post(
        "/configuration/templates/new/email/",
        {
            "name": "Spring",
            "target": "contacts.contact",
            "subject": "Hi",
            "editor_mode": "design",
            "design": json.dumps(design),
        },
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Section 1, column 1, block 2: src" in page
    assert not Template.objects.exists()
    # the design comes back in the form, as posted
    assert "javascript:alert(1)" in page and "Hi {{ record.name }}" in page


@pytest.mark.postgres  # the design is a JSON column: stored and read back on both databases
def test_saving_a_design_compiles_it_and_converting_keeps_the_html(marketer_client):
    design = design_with(HEADING, dict(IMAGE, alt="A rose"))
    response = marketer_client.post(
        "/configuration/templates/new/email/",
        {
            "name": "Spring",
            "target": "contacts.contact",
            "subject": "Hi",
            "editor_mode": "design",
            "design": json.dumps(design),
        },
    )
    template = Template.objects.get()
    assert response["Location"] == f"/configuration/templates/{template.pk}/"
    assert template.design["sections"][0]["columns"][0]["blocks"][0]["text"] == (
        "Hi {{ record.name }}"
    )
    assert 'alt="A rose"' in template.body_html
    page = marketer_client.get(response["Location"]).content.decode()
    assert 'id="designer"' in page and "Convert to HTML" in page

    marketer_client.post(
        response["Location"],
        {
            "name": "Spring",
            "target": "contacts.contact",
            "subject": "Hi",
            "editor_mode": "convert",
            "design": json.dumps(template.design),
        },
    )
    compiled = template.body_html
    template.refresh_from_db()
    assert template.design is None
    assert template.body_html == compiled
    page = marketer_client.get(response["Location"]).content.decode()
    assert 'id="designer"' not in page  # HTML from now on: no way back
    # a post asking for the designer again is still treated as HTML
    marketer_client.post(
        response["Location"],
        {
            "name": "Spring",
            "target": "contacts.contact",
            "subject": "Hi",
            "editor_mode": "design",
            "design": json.dumps(design),
            "body_html": compiled,
        },
    )
    template.refresh_from_db()
    assert template.design is None


def test_the_html_editor_preview_shows_the_checks_too(marketer_client, contacts):
    response = marketer_client.post(
        "/configuration/templates/preview/",
        {
            "kind": "email",
            "target": "contacts.contact",
            "subject": "Hi",
            "body_html": '<p>Hi</p><img src="https://cdn.example/a.png"><a href="">x</a>',
            "record": contacts[0].pk,
        },
    )
    page = response.content.decode()
    assert 'data-code="image_alt"' in page
    assert 'data-code="link_missing"' in page
    fine = marketer_client.post(
        "/configuration/templates/preview/",
        {
            "kind": "email",
            "target": "contacts.contact",
            "subject": "Hi",
            "body_html": '<p>Hi <a href="https://shop.example/">shop</a></p>',
            "record": contacts[0].pk,
        },
    )
    assert "data-html-checks" not in fine.content.decode()
