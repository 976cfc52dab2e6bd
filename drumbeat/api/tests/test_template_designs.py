"""Designed templates through the API: `design` on create/update/read (422 naming the JSON
path), compile (saved or draft) with the pre-send checks, the placeholder list, and Start
refusing a campaign whose email template fails its checks."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from drumbeat.api.main import api
from drumbeat.automation import services as automation_services
from drumbeat.automation.tests.fixtures import add_email, make_campaign
from drumbeat.mailing.design.tests.helpers import block, design, footer, full_design, section
from drumbeat.mailing.models import Template

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
P = "sections[0].columns[0].blocks[0]"


def create(client, data, **fields):
    body = {
        "name": "Spring",
        "target": "contacts.contact",
        "subject": "Hello {{ record.name }}",
        "design": data,
        **fields,
    }
    return client.post("templates", body)


def errors(response) -> dict[str, str]:
    assert response.status_code == 422, response.json()
    return {e["field"]: e["message"] for e in response.json()["errors"]}


def test_it_creates_reads_and_lists_a_designed_template(marketing_api):
    r = create(marketing_api, full_design())
    assert r.status_code == 201, r.json()
    created = r.json()
    assert created["design"]["sections"][0]["columns"][0]["blocks"][0]["align"] == "left"
    assert created["body_html"].startswith("<!doctype html>")
    assert "Hello {{ record.name }}" in created["body_html"]
    got = marketing_api.get(f"templates/{created['id']}").json()
    assert got["design"] == created["design"]
    listed = marketing_api.get("templates").json()["items"]
    assert [t["design"] is not None for t in listed] == [True]


def test_an_invalid_design_is_a_422_naming_the_json_path(marketing_api):
    data = design(section("s1", [block("image", "i", src="ftp://x", width=9000), footer()]))
    found = errors(create(marketing_api, data))
    assert set(found) == {f"design.{P}.src", f"design.{P}.width"}
    assert "between 16 and 600" in found[f"design.{P}.width"]
    assert Template.objects.count() == 0
    found = errors(create(marketing_api, {"version": 1, "sections": [{"id": "s"}]}))
    assert "design.sections[0].columns" in found


def test_an_unknown_placeholder_in_a_design_is_a_422_naming_the_block(marketing_api):
    data = design(
        section("s1", [block("heading", "h", text="Hi {{ record.shoe_size }}"), footer()])
    )
    found = errors(create(marketing_api, data))
    assert list(found) == [f"design.{P}.text"]
    assert "unknown field 'shoe_size'" in found[f"design.{P}.text"]


def test_only_email_templates_have_a_design(marketing_api):
    found = errors(create(marketing_api, full_design(), kind="sms", body_text="Hi"))
    assert "design" in found


def test_the_html_of_a_designed_template_follows_its_design(marketing_api):
    created = create(marketing_api, full_design()).json()
    url = f"templates/{created['id']}"
    found = errors(marketing_api.patch(url, {"body_html": "<p>mine</p>"}))
    assert "convert the template to HTML first" in found["body_html"]

    changed = design(section("s1", [block("heading", "h", text="New title"), footer()]))
    r = marketing_api.patch(url, {"design": changed})
    assert r.status_code == 200 and "New title" in r.json()["body_html"]

    # design: null turns it into an HTML template that keeps the compiled HTML
    compiled = r.json()["body_html"]
    r = marketing_api.patch(url, {"design": None})
    assert r.status_code == 200
    assert r.json()["design"] is None and r.json()["body_html"] == compiled
    r = marketing_api.patch(url, {"body_html": compiled.replace("New title", "Edited")})
    assert r.status_code == 200 and "Edited" in r.json()["body_html"]


def test_compile_returns_the_html_and_the_checks(marketing_api):
    data = design(section("s1", [block("image", "i", src="https://m.example/a.png")]))
    created = create(marketing_api, data).json()
    r = marketing_api.post(f"templates/{created['id']}/compile")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["html"] == created["body_html"]
    assert body["size"] == len(created["body_html"].encode())
    assert [(c["code"], c["severity"], c["path"]) for c in body["checks"]] == [
        ("image_alt", "error", f"{P}.alt"),
        ("unsubscribe_missing", "error", "sections"),
    ]


def test_compile_a_draft_without_saving_it(marketing_api):
    created = create(marketing_api, full_design()).json()
    draft = design(section("s1", [block("heading", "h", text="Draft {{ record.name }}"), footer()]))
    r = marketing_api.post(
        f"templates/{created['id']}/compile", {"design": draft, "subject": "A" * 80}
    )
    assert r.status_code == 200, r.json()
    assert "Draft {{ record.name }}" in r.json()["html"]
    assert [c["code"] for c in r.json()["checks"]] == ["subject_long"]
    assert Template.objects.get().design == created["design"]  # nothing saved

    bad = design(section("s1", [block("button", "b", href="javascript:x")]))
    found = errors(marketing_api.post(f"templates/{created['id']}/compile", {"design": bad}))
    assert list(found) == [f"design.{P}.href"]

    r = marketing_api.post(
        "templates/compile",
        {"target": "crm.lead", "subject": "Hi", "design": design(section("s", [
            block("heading", "h", text="{{ record.contact_name }} {{ record.nope }}"), footer(),
        ]))},
    )  # fmt: skip
    assert r.status_code == 200, r.json()
    [check] = r.json()["checks"]
    assert (check["code"], check["path"]) == ("placeholder_unknown", f"{P}.text")
    assert "'nope'" in check["message"]


def test_compile_an_html_template_checks_its_html(marketing_api):
    r = marketing_api.post(
        "templates",
        {
            "name": "Plain",
            "target": "contacts.contact",
            "subject": "Hi",
            "body_html": '<p><img src="https://m.example/a.png"> <a href="http://localhost/x">x</a>',
        },
    )
    r = marketing_api.post(f"templates/{r.json()['id']}/compile")
    assert [c["code"] for c in r.json()["checks"]] == ["image_alt", "link_localhost"]


def test_placeholders_of_a_target(marketing_api):
    r = marketing_api.get("templates/placeholders", target="crm.lead")
    assert r.status_code == 200, r.json()
    found = {p["placeholder"] for p in r.json()["fields"]}
    assert "{{ record.contact_name }}" in found
    assert "{{ record.salesperson.first_name }}" in found
    assert [p["placeholder"] for p in r.json()["links"]] == [
        "{{ unsubscribe_url }}",
        "{{ view_online_url }}",
    ]
    bad = marketing_api.get("templates/placeholders", target="auth.user")
    assert bad.status_code in (400, 422) and "target" in bad.json()["detail"]


def test_the_openapi_document_describes_the_design():
    schema = api.get_openapi_schema()
    template_in = schema["components"]["schemas"]["TemplateIn"]
    design_schema = template_in["properties"]["design"]["anyOf"][0]
    assert design_schema["title"] == "Design"
    assert design_schema["examples"][0]["sections"]
    blocks = design_schema["properties"]["sections"]["items"]["properties"]["columns"]["items"]
    kinds = {
        b["properties"]["type"]["enum"][0] for b in blocks["properties"]["blocks"]["items"]["anyOf"]
    }  # noqa: E501
    assert kinds == {"heading", "text", "image", "button", "divider", "spacer", "social", "footer"}
    assert any("design" in example for example in template_in["examples"])
    assert "/api/v1/templates/{id}/compile" in schema["paths"]
    assert "/api/v1/templates/placeholders" in schema["paths"]


# --- Start -----------------------------------------------------------------------------------


def test_start_refuses_a_campaign_whose_email_template_fails_its_checks(marketing_api, bob):
    data = design(section("s1", [block("image", "i", src="https://m.example/a.png"), footer()]))
    created = create(marketing_api, data, name="Spring sale").json()
    campaign = make_campaign(bob)
    add_email(campaign, template=Template.objects.get(pk=created["id"]))

    r = marketing_api.post(f"campaigns/{campaign.pk}/start")
    assert r.status_code == 409
    detail = r.json()["detail"]
    assert detail.startswith("Fix the email templates before starting:")
    assert "“Spring sale”" in detail and "no alt text" in detail and f"{P}.alt" in detail
    campaign.refresh_from_db()
    assert campaign.state == "draft"

    fixed = design(
        section("s1", [block("image", "i", src="https://m.example/a.png", alt="A"), footer()])
    )
    assert marketing_api.patch(f"templates/{created['id']}", {"design": fixed}).status_code == 200
    assert marketing_api.post(f"campaigns/{campaign.pk}/start").status_code == 200
    campaign.refresh_from_db()
    assert campaign.state == "running"


def test_start_names_every_failing_template(bob, settings):
    settings.BASE_URL = "https://news.example.com"  # on a local instance localhost only warns
    campaign = make_campaign(bob)
    no_subject = Template.objects.create(
        name="A", kind="email", target="contacts.contact", subject="", body_html="<p>Hi</p>"
    )
    local = Template.objects.create(
        name="B",
        kind="email",
        target="contacts.contact",
        subject="Hi",
        body_html='<a href="http://127.0.0.1:8000/offer">offer</a>',
    )
    add_email(campaign, template=no_subject)
    add_email(campaign, template=local, name="Second")
    with pytest.raises(ValidationError) as caught:
        automation_services.start_campaign(campaign, bob)
    message = " ".join(caught.value.messages)
    assert "template “A”: The subject is empty (subject)" in message
    assert "template “B”: Body: the link http://127.0.0.1:8000/offer points at localhost" in message
