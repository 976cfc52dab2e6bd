"""Campaigns over the API: templates, server actions, workflow, actions, tests, traces,
metrics, links and clicks — through the engine's services."""

from __future__ import annotations

import pytest

from drumbeat.automation.models import Activity, Campaign, CampaignLog, Participant, Trace
from drumbeat.contacts.services import create_contact
from drumbeat.mailing.models import Click, Link, Message

WELCOME = {
    "name": "Welcome",
    "kind": "email",
    "target": "contacts.contact",
    "subject": "Hello {{ record.name }}",
    "body_html": '<p>Hi {{ record.name }} <a href="https://example.com/x">see</a></p>',
}


@pytest.fixture
def ada(db):
    return create_contact(name="Ada", email="ada@example.com")


def make_campaign(api, **extra) -> dict:
    template = api.post("templates", WELCOME).json()
    campaign = api.post(
        "campaigns",
        {"name": "Welcome", "target": "contacts.contact", "domain": [["email", "!=", False]]},
    ).json()
    activity = api.post(
        "activities",
        {
            "campaign": campaign["id"],
            "name": "Send welcome",
            "kind": "email",
            "template": template["id"],
            "delay_amount": 1,
            "delay_unit": "hours",
            **extra,
        },
    ).json()
    return {"campaign": campaign, "template": template, "activity": activity}


# --- templates and server actions --------------------------------------------------------------


def test_it_creates_and_validates_templates(marketing_api):
    r = marketing_api.post("templates", WELCOME)
    assert r.status_code == 201, r.json()
    assert r.json()["kind"] == "email"
    r = marketing_api.post("templates", {**WELCOME, "body_html": "<p>{{ record.password }}</p>"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body_html"
    r = marketing_api.post("templates", {**WELCOME, "subject": ""})
    assert r.status_code == 422
    assert "subject" in [e["field"] for e in r.json()["errors"]]
    r = marketing_api.post(
        "templates", {"name": "SMS", "kind": "sms", "target": "crm.lead", "body_text": "Hi {{"}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body_text"


def test_it_keeps_templates_used_by_activities(marketing_api):
    built = make_campaign(marketing_api)
    template_id = built["template"]["id"]
    assert marketing_api.delete(f"templates/{template_id}").status_code == 409
    r = marketing_api.patch(f"templates/{template_id}", {"target": "crm.lead"})
    assert r.status_code == 409
    r = marketing_api.patch(f"templates/{template_id}", {"subject": "New subject"})
    assert r.json()["subject"] == "New subject"


def test_it_creates_validated_server_actions(marketing_api):
    r = marketing_api.post(
        "server-actions",
        {
            "name": "Priority high",
            "target": "crm.lead",
            "kind": "update_record",
            "params": {"field": "priority", "value": 3},
        },
    )
    assert r.status_code == 201, r.json()
    action_id = r.json()["id"]
    r = marketing_api.post(
        "server-actions",
        {
            "name": "Bad",
            "target": "crm.lead",
            "kind": "update_record",
            "params": {"field": "no_such_field", "value": 3},
        },
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "params"
    assert marketing_api.get("server-actions", target="crm.lead").json()["count"] == 1
    assert marketing_api.delete(f"server-actions/{action_id}").status_code == 204


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:6379/", "http://0x7f.1/"]
)
def test_a_webhook_action_to_an_inside_address_is_refused(marketing_api, settings, url):
    settings.WEBHOOK_ALLOW = []
    params = {"url": url, "fields": ["email"]}
    r = marketing_api.post(
        "server-actions",
        {
            "name": "Exfiltrate",
            "target": "contacts.contact",
            "kind": "send_webhook",
            "params": params,
        },
    )
    assert r.status_code == 422, r.json()
    (error,) = r.json()["errors"]
    assert error["field"] == "params"
    assert error["message"].startswith("url: address not allowed: ")
    assert error["message"].endswith(("is link-local", "is loopback"))


# --- campaigns and activities ------------------------------------------------------------------


def test_it_builds_a_workflow(marketing_api, bob):
    built = make_campaign(marketing_api)
    campaign, activity = built["campaign"], built["activity"]
    assert campaign["state"] == "draft"
    assert campaign["owner"] == bob.pk
    assert campaign["unique_field"] == "email"
    assert activity["trigger"] == "begin"
    r = marketing_api.post(
        "activities",
        {
            "campaign": campaign["id"],
            "name": "Tag clickers",
            "kind": "email",
            "template": built["template"]["id"],
            "trigger": "mail_click",
            "parent": activity["id"],
        },
    )
    assert r.status_code == 201, r.json()
    listed = marketing_api.get("activities", campaign=campaign["id"]).json()
    assert listed["count"] == 2
    assert marketing_api.delete(f"activities/{activity['id']}").status_code == 204
    assert Activity.objects.count() == 0  # the child went with its parent


@pytest.mark.parametrize(
    "change, field",
    [
        ({"trigger": "mail_open"}, "parent"),
        ({"template": 999}, "template"),
        ({"kind": "action"}, "server_action"),
        ({"domain": [["nope", "=", 1]]}, "domain"),
    ],
)
def test_it_refuses_bad_activities(marketing_api, change, field):
    built = make_campaign(marketing_api)
    r = marketing_api.post(
        "activities",
        {
            "campaign": built["campaign"]["id"],
            "name": "x",
            "template": built["template"]["id"],
            **change,
        },
    )
    assert r.status_code == 422, r.json()
    assert field in [e["field"] for e in r.json()["errors"]]


def test_it_refuses_a_bad_campaign_filter(marketing_api):
    r = marketing_api.post(
        "campaigns", {"name": "x", "target": "contacts.contact", "domain": [["x", "=", 1]]}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "domain"


def test_it_refuses_to_start_an_empty_workflow(marketing_api):
    campaign = marketing_api.post("campaigns", {"name": "x", "target": "crm.lead"}).json()
    r = marketing_api.post(f"campaigns/{campaign['id']}/start")
    assert r.status_code == 409
    assert "activity" in r.json()["detail"]


@pytest.mark.postgres
def test_it_starts_stops_and_logs(marketing_api, ada, bob):
    built = make_campaign(marketing_api)
    campaign_id = built["campaign"]["id"]
    r = marketing_api.post(f"campaigns/{campaign_id}/start")
    assert r.status_code == 200
    assert r.json()["state"] == "running"
    participants = marketing_api.get("participants", campaign=campaign_id).json()
    assert [(p["record_id"], p["record_name"]) for p in participants["items"]] == [(ada.pk, "Ada")]
    assert marketing_api.post(f"campaigns/{campaign_id}/stop").json()["state"] == "stopped"
    assert marketing_api.post(f"campaigns/{campaign_id}/stop").status_code == 409
    logged = CampaignLog.objects.filter(campaign_id=campaign_id).values_list("action", "user")
    assert sorted(logged) == [("start", bob.pk), ("stop", bob.pk)]
    assert marketing_api.delete(f"campaigns/{campaign_id}").status_code == 204


@pytest.mark.postgres
def test_it_enrols_a_contact_created_through_the_api(
    marketing_api, django_capture_on_commit_callbacks
):
    built = make_campaign(marketing_api)
    campaign_id = built["campaign"]["id"]
    assert marketing_api.post(f"campaigns/{campaign_id}/start").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        r = marketing_api.post("contacts", {"name": "New", "email": "new@example.com"})
    contact_id = r.json()["id"]
    assert Participant.objects.filter(campaign_id=campaign_id, record_id=contact_id).exists()
    assert Trace.objects.filter(participant__record_id=contact_id, state="scheduled").count() == 1


def test_it_refuses_deleting_a_running_campaign(marketing_api, ada):
    built = make_campaign(marketing_api)
    campaign_id = built["campaign"]["id"]
    marketing_api.post(f"campaigns/{campaign_id}/start")
    assert marketing_api.delete(f"campaigns/{campaign_id}").status_code == 409
    assert Campaign.objects.filter(pk=campaign_id).exists()


def test_it_duplicates_and_archives(marketing_api):
    built = make_campaign(marketing_api)
    campaign_id = built["campaign"]["id"]
    r = marketing_api.post(f"campaigns/{campaign_id}/duplicate")
    assert r.status_code == 201
    copy = r.json()
    assert copy["name"] == "Welcome (copy)"
    assert marketing_api.get("activities", campaign=copy["id"]).json()["count"] == 1
    r = marketing_api.patch(f"campaigns/{campaign_id}", {"archived": True, "name": "Old"})
    assert (r.json()["archived"], r.json()["name"]) == (True, "Old")
    assert [c["id"] for c in marketing_api.get("campaigns").json()["items"]] == [copy["id"]]


def test_it_applies_a_modified_workflow(marketing_api, ada):
    built = make_campaign(marketing_api)
    campaign_id = built["campaign"]["id"]
    assert marketing_api.post(f"campaigns/{campaign_id}/update").status_code == 409
    marketing_api.post(f"campaigns/{campaign_id}/start")
    marketing_api.post(
        "activities",
        {
            "campaign": campaign_id,
            "name": "Second welcome",
            "template": built["template"]["id"],
            "delay_amount": 2,
        },
    )
    assert marketing_api.get(f"campaigns/{campaign_id}").json()["require_sync"] is True
    pending = marketing_api.get(f"campaigns/{campaign_id}/update").json()
    assert pending == {"require_sync": True, "create": 1, "redate": 0}
    r = marketing_api.post(f"campaigns/{campaign_id}/update", {"apply": True})
    assert r.json() == {"applied": True, "created": 1, "redated": 0}
    assert marketing_api.get(f"campaigns/{campaign_id}").json()["require_sync"] is False


# --- test mode, traces, metrics ----------------------------------------------------------------


@pytest.mark.postgres
def test_it_walks_a_test_through_run_and_simulate(
    marketing_api, ada, django_capture_on_commit_callbacks
):
    r = marketing_api.post("campaign-templates/tag_hot_contacts")
    assert r.status_code == 201, r.json()
    campaign_id = r.json()["id"]
    r = marketing_api.post(f"campaigns/{campaign_id}/tests", {"record_id": ada.pk})
    assert r.status_code == 201, r.json()
    participant = r.json()
    assert (participant["is_test"], participant["record_name"]) == (True, "Ada")
    traces = marketing_api.get("traces", participant=participant["id"]).json()["items"]
    (first,) = traces
    assert first["state"] == "scheduled"
    r = marketing_api.post(f"traces/{first['id']}/run")
    assert r.status_code == 200, r.json()
    assert r.json()["state"] == "processed", r.json()
    assert Message.objects.get(trace_id=first["id"]).recipient == "ada@example.com"
    waiting = marketing_api.get("traces", participant=participant["id"], state="scheduled")
    assert waiting.json()["count"] == 2  # clicked and bounced children wait for their event
    with django_capture_on_commit_callbacks(execute=True):
        r = marketing_api.post(f"traces/{first['id']}/simulate", {"event": "click"})
    assert r.status_code == 200, r.json()
    after = marketing_api.get("traces", participant=participant["id"]).json()["items"]
    by_activity = {Activity.objects.get(pk=t["activity"]).trigger: t for t in after}
    assert by_activity["mail_click"]["scheduled_at"] is not None
    metrics = marketing_api.get(f"campaigns/{campaign_id}/metrics").json()
    assert metrics["figures"]["tests"] == 1
    assert metrics["figures"]["participants"] == 0  # tests are excluded
    assert len(metrics["activities"]) == 3


def test_it_refuses_trace_actions_out_of_state(marketing_api, ada):
    built = make_campaign(marketing_api)
    campaign_id = built["campaign"]["id"]
    participant = marketing_api.post(f"campaigns/{campaign_id}/tests", {"record_id": ada.pk})
    trace = marketing_api.get("traces", participant=participant.json()["id"]).json()["items"][0]
    assert marketing_api.post(f"traces/{trace['id']}/retry").status_code == 409
    r = marketing_api.post(f"traces/{trace['id']}/simulate", {"event": "open"})
    assert r.status_code == 409  # nothing sent yet
    assert marketing_api.post(f"traces/{trace['id']}/simulate", {"event": "x"}).status_code == 422
    assert marketing_api.post(f"traces/{trace['id']}/cancel").json()["state"] == "cancelled"
    assert marketing_api.post(f"traces/{trace['id']}/run").status_code == 409
    assert marketing_api.post("traces/999999/run").status_code == 404


def test_it_refuses_simulating_on_a_real_trace(marketing_api, ada):
    built = make_campaign(marketing_api)
    campaign_id = built["campaign"]["id"]
    marketing_api.post(f"campaigns/{campaign_id}/start")
    trace = Trace.objects.get(participant__record_id=ada.pk)
    marketing_api.post(f"traces/{trace.pk}/run")
    r = marketing_api.post(f"traces/{trace.pk}/simulate", {"event": "open"})
    assert r.status_code == 409
    assert "test" in r.json()["detail"]


def test_it_refuses_a_test_on_an_unknown_record(marketing_api):
    built = make_campaign(marketing_api)
    r = marketing_api.post(f"campaigns/{built['campaign']['id']}/tests", {"record_id": 999})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "record_id"


def test_it_lists_the_six_campaign_templates(marketing_api):
    r = marketing_api.get("campaign-templates")
    assert [t["key"] for t in r.json()] == [
        "tag_hot_contacts",
        "welcome_flow",
        "double_optin",
        "commercial_prospection",
        "schedule_calls",
        "prioritize_hot_leads",
    ]
    assert marketing_api.post("campaign-templates/nope").status_code == 422


def test_it_stops_a_participant(marketing_api, ada):
    built = make_campaign(marketing_api)
    campaign_id = built["campaign"]["id"]
    participant = marketing_api.post(f"campaigns/{campaign_id}/tests", {"record_id": ada.pk})
    pid = participant.json()["id"]
    r = marketing_api.post(f"participants/{pid}/stop")
    assert r.json()["state"] == "completed"
    assert marketing_api.post(f"participants/{pid}/stop").status_code == 409


# --- links and clicks --------------------------------------------------------------------------


def test_it_manages_links_and_lists_clicks(marketing_api):
    r = marketing_api.post("links", {"url": "https://example.com/a", "title": "A"})
    assert r.status_code == 201
    link = r.json()
    assert link["clicks"] == 0 and len(link["code"]) >= 6
    Click.objects.create(link_id=link["id"])
    assert marketing_api.get(f"links/{link['id']}").json()["clicks"] == 1
    assert marketing_api.get("clicks", link=link["id"]).json()["count"] == 1
    r = marketing_api.patch(f"links/{link['id']}", {"title": "B"})
    assert r.json()["title"] == "B"
    assert marketing_api.post("links", {"url": "javascript:alert(1)"}).status_code == 422
    assert marketing_api.delete(f"links/{link['id']}").status_code == 204
    assert not Link.objects.exists()


@pytest.mark.parametrize(
    "path, body",
    [
        ("campaigns/{campaign}", {"name": None}),
        ("campaigns/{campaign}", {"domain": None}),
        ("activities/{activity}", {"delay_amount": None}),
        ("activities/{activity}", {"trigger": None}),
        ("links/{link}", {"url": None}),
    ],
)
def test_it_refuses_null_for_required_fields(marketing_api, path, body):
    built = make_campaign(marketing_api)
    link = marketing_api.post("links", {"url": "https://example.com/a"}).json()
    url = path.format(
        campaign=built["campaign"]["id"], activity=built["activity"]["id"], link=link["id"]
    )
    r = marketing_api.patch(url, body)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == next(iter(body))
