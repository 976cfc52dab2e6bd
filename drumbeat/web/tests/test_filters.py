"""The filter builder's endpoints: field catalogue, live count, errors, favorites."""

import json

import pytest

from drumbeat.automation.models import FavoriteFilter

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_it_describes_fields_up_to_the_relation_depth(marketer_client):
    data = marketer_client.get("/filters/contacts.contact/fields/").json()
    assert data["root"] == "contacts.contact"
    contact = data["models"]["contacts.contact"]
    assert contact["country"]["kind"] == "char"
    assert "ilike" in contact["country"]["operators"]
    assert contact["tags"]["related"] == "contacts.tag"
    assert contact["is_blacklisted"]["kind"] == "virtual"
    assert "crm.stage" in data["models"]  # contact -> leads -> stage


def test_it_counts_matching_records_with_a_link(marketer_client, contacts):
    domain = json.dumps([["country", "=", "BE"]])
    html = marketer_client.get(
        "/filters/contacts.contact/count/", {"domain": domain}
    ).content.decode()
    assert 'data-fb-count="3"' in html
    assert "/records/contacts/?domain=" in html


def test_it_counts_with_the_field_named_by_the_builder(marketer_client, contacts):
    html = marketer_client.get(
        "/filters/contacts.contact/count/",
        {"field": "activity_domain", "activity_domain": '[["tags.name", "=", "VIP"]]'},
    ).content.decode()
    assert 'data-fb-count="3"' in html


def test_it_ands_the_base_domain_into_the_count(marketer_client, contacts):
    html = marketer_client.get(
        "/filters/contacts.contact/count/",
        {
            "domain": '[["tags.name", "=", "VIP"]]',
            "base_domain": '[["country", "=", "BE"]]',
        },
    ).content.decode()
    assert 'data-fb-count="1"' in html


def test_it_shows_the_domain_error(marketer_client):
    html = marketer_client.get(
        "/filters/contacts.contact/count/", {"domain": '[["email", "like", 5]]'}
    ).content.decode()
    assert "data-fb-server-error" in html and "not a valid char value" in html
    html = marketer_client.get(
        "/filters/contacts.contact/count/", {"domain": "[[nope"}
    ).content.decode()
    assert "not valid JSON" in html


def test_it_answers_404_for_an_unknown_target(marketer_client):
    assert marketer_client.get("/filters/nope.nope/count/").status_code == 404


def test_it_saves_and_lists_a_favorite(marketer_client, bob):
    response = marketer_client.post(
        "/filters/contacts.contact/favorites/",
        {"name": "Belgians", "domain": '[["country", "=", "BE"]]'},
    )
    assert response.status_code == 200
    favorite = FavoriteFilter.objects.get(name="Belgians")
    assert favorite.domain == [["country", "=", "BE"]] and favorite.owner == bob
    assert "Belgians" in response.content.decode()


def test_it_refuses_an_invalid_favorite(marketer_client):
    response = marketer_client.post(
        "/filters/contacts.contact/favorites/", {"name": "Bad", "domain": '[["x", "=", 1]]'}
    )
    assert response.status_code == 400
    assert not FavoriteFilter.objects.exists()
    response = marketer_client.post("/filters/contacts.contact/favorites/", {"domain": "[]"})
    assert "Give the favorite a name" in response.content.decode()
