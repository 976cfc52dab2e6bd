import pytest
from django.core.exceptions import ValidationError

from drumbeat.automation.models import ServerAction
from drumbeat.automation.services import create_server_action, update_server_action

from .fixtures import add_action, make_campaign, make_tag

TAG = {"field": "tags", "operation": "add", "value": ["Hot"]}


@pytest.fixture(autouse=True)
def tags(db):
    make_tag("Hot"), make_tag("Warm")


def test_it_creates_a_checked_server_action(db):
    action = create_server_action(
        name="Tag hot", target="contacts.contact", kind="update_record", params=TAG
    )
    assert ServerAction.objects.get().pk == action.pk
    assert action.params["field"] == "tags"


def test_it_refuses_bad_params(db):
    with pytest.raises(ValidationError) as exc:
        create_server_action(
            name="Bad", target="contacts.contact", kind="update_record", params={"field": "nope"}
        )
    assert "params" in exc.value.message_dict
    assert not ServerAction.objects.exists()


def test_a_child_takes_the_target_of_its_parent(db):
    parent = create_server_action(name="Several", target="crm.lead", kind="multi")
    child = create_server_action(
        name="Note",
        target="contacts.contact",
        kind="post_note",
        params={"body": "Hot lead"},
        parent=parent,
    )
    assert child.target == "crm.lead"
    with pytest.raises(ValidationError) as exc:
        update_server_action(child, target="contacts.contact")
    assert "target" in exc.value.message_dict


def test_it_updates_an_action(db):
    action = create_server_action(
        name="Tag hot", target="contacts.contact", kind="update_record", params=TAG
    )
    update_server_action(action, name="Tag warm", params={**TAG, "value": ["Warm"]})
    action.refresh_from_db()
    assert action.name == "Tag warm"


def test_it_keeps_the_target_of_an_action_used_by_activities(db):
    action = create_server_action(
        name="Tag hot", target="contacts.contact", kind="update_record", params=TAG
    )
    campaign = make_campaign()
    add_action(campaign, action=action)
    with pytest.raises(ValidationError) as exc:
        update_server_action(action, target="crm.lead")
    assert "target" in exc.value.message_dict
    assert ServerAction.objects.get().target == "contacts.contact"


def test_it_deletes_an_action_only_when_no_activity_uses_it(db):
    from drumbeat.automation.services import delete_server_action

    action = create_server_action(name="Several", target="contacts.contact", kind="multi")
    create_server_action(
        name="Note",
        target="contacts.contact",
        kind="post_note",
        params={"body": "Hi"},
        parent=action,
    )
    activity = add_action(make_campaign(), action=action)
    with pytest.raises(ValidationError):
        delete_server_action(action)
    assert ServerAction.objects.count() == 2
    activity.delete()
    delete_server_action(action)
    assert not ServerAction.objects.exists()
