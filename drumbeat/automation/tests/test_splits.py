"""Split activities (automation/splits.py): weighted branches, one assignment per participant
whatever happens, holdouts, declared winners, test participants down a chosen branch."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from drumbeat.automation import services, splits
from drumbeat.automation.engine import execute
from drumbeat.automation.engine.execute import recover_leases
from drumbeat.automation.engine.leases import LEASE
from drumbeat.automation.models import Activity, CampaignLog, Participant, SplitAssignment, Trace
from drumbeat.contacts.models import Contact

from .fixtures import START, add_action, add_email, make_campaign, make_contacts, tick, traces

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

HALF = [{"name": "A", "weight": 50}, {"name": "B", "weight": 50}]


def add_split(campaign, parent=None, branches=None, **fields) -> Activity:
    fields.setdefault("name", "Welcome test")
    fields.setdefault("trigger", "activity" if parent else "begin")
    return services.create_activity(
        campaign, kind="split", parent=parent, branches=branches or HALF, **fields
    )


def branch_counts(split: Activity) -> dict[str, int]:
    counts: dict[str, int] = {}
    for branch in SplitAssignment.objects.filter(split=split).values_list("branch", flat=True):
        counts[branch] = counts.get(branch, 0) + 1
    return counts


def assigned(split: Activity) -> dict[int, str]:
    return dict(SplitAssignment.objects.filter(split=split).values_list("participant", "branch"))


def test_it_sends_ten_thousand_participants_half_down_each_branch(clock, bob):
    make_contacts(10_000)
    campaign = make_campaign(bob)
    split = add_split(campaign)
    on_a = add_action(campaign, parent=split, name="Tag A", branch="A")
    on_b = add_action(campaign, parent=split, name="Tag B", branch="B")
    services.start_campaign(campaign, bob)
    tick()

    counts = branch_counts(split)
    assert sum(counts.values()) == 10_000
    # 50 % ± 2 %: 4,800 to 5,200 in each branch.
    assert 4_800 <= counts["A"] <= 5_200
    assert 4_800 <= counts["B"] <= 5_200
    # Each participant went down its own branch only.
    by_participant = assigned(split)
    assert {t.participant_id for t in traces(on_a)} == {
        p for p, b in by_participant.items() if b == "A"
    }
    assert {t.participant_id for t in traces(on_b)} == {
        p for p, b in by_participant.items() if b == "B"
    }
    assert Trace.objects.filter(activity=split, state="processed").count() == 10_000


def test_the_draw_follows_the_weights_and_is_the_same_every_time():
    branches = [
        {"name": "A", "weight": 45},
        {"name": "B", "weight": 45},
        {"name": "H", "weight": 10},
    ]
    drawn = [splits.draw(7, 11, pk, branches) for pk in range(1, 20_001)]
    # 10 % holdout: 2,000 ± 2 % of 20,000 (400).
    assert 1_600 <= drawn.count("H") <= 2_400
    assert 8_600 <= drawn.count("A") <= 9_400
    assert drawn == [splits.draw(7, 11, pk, branches) for pk in range(1, 20_001)]
    # Another split of the same campaign draws independently of this one.
    other = [splits.draw(7, 12, pk, branches) for pk in range(1, 20_001)]
    same = sum(a == b for a, b in zip(drawn, other, strict=True))
    # Independent draws agree with probability .45² + .45² + .1² = 0.415.
    assert 0.395 * 20_000 <= same <= 0.435 * 20_000


def test_a_crashed_batch_assigns_nobody_and_its_rerun_assigns_each_participant_once(
    clock, bob, monkeypatch
):
    make_contacts(40)
    campaign = make_campaign(bob)
    split = add_split(campaign)
    add_action(campaign, parent=split, name="Tag A", branch="A")
    services.start_campaign(campaign, bob)

    def crash(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(execute, "create_children", crash)
    with pytest.raises(RuntimeError):
        tick()
    # The batch is one transaction: rolled back, assignments included.
    assert not SplitAssignment.objects.exists()
    assert {t.state for t in traces(split)} == {"scheduled"}

    monkeypatch.undo()
    tick()
    found = assigned(split)
    assert len(found) == 40 == SplitAssignment.objects.count()
    assert found == {
        p: splits.draw(campaign.pk, split.pk, p, HALF)
        for p in Participant.objects.values_list("id", flat=True)
    }


def test_a_retried_or_recovered_split_keeps_the_branch_already_drawn(clock, bob):
    make_contacts(30)
    campaign = make_campaign(bob)
    split = add_split(campaign)
    on_a = add_action(campaign, parent=split, name="Tag A", branch="A", delay_amount=5)
    on_b = add_action(campaign, parent=split, name="Tag B", branch="B", delay_amount=5)
    services.start_campaign(campaign, bob)
    tick()
    before = assigned(split)

    # A winner declared since changes nothing for those already assigned.
    assert splits.declare_winner(split, "B", bob).winner == "B"
    # Every split trace in error, then retried: run again, same branches, children again.
    Trace.objects.filter(activity=split).update(state="error", reason="boom")
    for trace in traces(split):
        services.retry_trace(trace, bob)
    tick()
    assert assigned(split) == before
    assert SplitAssignment.objects.count() == 30
    scheduled = Trace.objects.filter(state="scheduled")
    assert scheduled.filter(activity=on_a).count() == list(before.values()).count("A")
    assert scheduled.filter(activity=on_b).count() == list(before.values()).count("B")

    # A lease that ran out (a runner killed while holding the traces): scheduled again, run
    # again, same branches.
    Trace.objects.filter(activity=split).update(
        state="processing", claim_expires_at=START - timedelta(minutes=1)
    )
    Trace.objects.filter(state="scheduled").delete()
    clock.move_to(START + LEASE)
    recover_leases()
    tick()
    assert assigned(split) == before
    assert Trace.objects.filter(activity=on_b, state="scheduled").count() == list(
        before.values()
    ).count("B")


def test_a_holdout_gets_nothing_and_its_participants_complete(clock, bob):
    make_contacts(60)
    campaign = make_campaign(bob)
    holdout = [{"name": "Email", "weight": 1}, {"name": "Holdout", "weight": 1}]
    split = add_split(campaign, branches=holdout)
    tag = add_action(campaign, parent=split, name="Tag them", branch="Email", delay_amount=1)
    services.start_campaign(campaign, bob)
    tick()
    kept_out = {p for p, b in assigned(split).items() if b == "Holdout"}
    assert kept_out and {t.participant_id for t in traces(tag)}.isdisjoint(kept_out)
    states = dict(Participant.objects.values_list("id", "state"))
    assert {states[p] for p in kept_out} == {"completed"}
    assert {s for p, s in states.items() if p not in kept_out} == {"running"}
    assert splits.control_branch(split) == "Holdout"


def test_after_a_declared_winner_every_new_participant_goes_down_it(clock, bob):
    make_contacts(20, city="Ghent")
    campaign = make_campaign(bob, domain=[["city", "=", "Ghent"]])
    split = add_split(campaign)
    services.start_campaign(campaign, bob)
    tick()
    before = assigned(split)
    splits.declare_winner(split, "A", bob)
    assert CampaignLog.objects.filter(action="declare_winner", detail="Welcome test: A").exists()
    Contact.objects.bulk_create(
        Contact(name=f"Late {i}", email=f"late{i}@example.com", city="Ghent") for i in range(30)
    )
    tick()
    after = SplitAssignment.objects.filter(split=split).exclude(participant__in=before)
    assert after.count() == 30
    assert set(after.values_list("branch", "randomized")) == {("A", False)}
    assert {p: b for p, b in assigned(split).items() if p in before} == before  # kept
    with pytest.raises(ValidationError, match="no branch 'C'"):
        splits.declare_winner(split, "C", bob)


def test_a_test_participant_goes_down_the_branch_chosen_on_the_test_screen(clock, bob):
    (ann,) = make_contacts(1)
    campaign = make_campaign(bob)
    split = add_split(campaign)
    on_a = add_action(campaign, parent=split, name="Tag A", branch="A")
    on_b = add_action(campaign, parent=split, name="Tag B", branch="B")
    for branch, child in (("A", on_a), ("B", on_b)):
        participant = services.launch_test(campaign, ann.pk, bob)
        (trace,) = Trace.objects.filter(participant=participant, activity=split)
        services.run_trace_now(trace, bob, branch=branch)
        assert assigned(split) == {participant.pk: branch}
        assert [t.activity for t in Trace.objects.filter(parent=trace)] == [child]
    # A test record the filter rejects gets no branch, even a chosen one.
    Contact.objects.filter(pk=ann.pk).update(active=False)
    participant = services.launch_test(campaign, ann.pk, bob)
    (trace,) = Trace.objects.filter(participant=participant, activity=split)
    assert services.run_trace_now(trace, bob, branch="B").state == "rejected"
    assert not SplitAssignment.objects.filter(participant=participant).exists()
    real = Contact.objects.create(name="Real", email="real@example.com")
    services.start_campaign(campaign, bob)
    trace = Trace.objects.get(activity=split, participant__record_id=real.pk)
    with pytest.raises(ValidationError, match="Only a test participant"):
        services.run_trace_now(trace, bob, branch="A")


def test_an_update_gives_a_new_branch_activity_to_that_branch_only(clock, bob):
    make_contacts(20)
    campaign = make_campaign(bob)
    split = add_split(campaign)
    services.start_campaign(campaign, bob)
    tick()
    late = add_action(campaign, parent=split, name="Late tag", branch="B", delay_amount=1)
    assert services.pending_update_counts(campaign)["create"] == list(
        assigned(split).values()
    ).count("B")
    services.apply_update(campaign, bob)
    on_b = {p for p, b in assigned(split).items() if b == "B"}
    assert {t.participant_id for t in traces(late)} == on_b


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "branches, message",
    [
        ([{"name": "A", "weight": 1}], "2 to 5 branches"),
        ([{"name": str(i), "weight": 1} for i in range(6)], "2 to 5 branches"),
        ([{"name": "A", "weight": 1}, {"name": "a", "weight": 1}], "Two branches are called"),
        ([{"name": "A", "weight": 1}, {"name": " ", "weight": 1}], "Branch 2 needs a name"),
        ([{"name": "A", "weight": 0}, {"name": "B", "weight": 1}], "whole number from 1"),
        ([{"name": "A", "weight": 1.5}, {"name": "B", "weight": 1}], "whole number from 1"),
        ("A,B", "list of branches"),
    ],
)
def test_it_refuses_bad_branches(bob, branches, message):
    campaign = make_campaign(bob)
    with pytest.raises(ValidationError, match=message) as caught:
        add_split(campaign, branches=branches)
    assert "branches" in caught.value.message_dict
    assert not Activity.objects.exists()


def test_an_activity_under_a_split_names_one_of_its_branches_and_follows_it(bob):
    campaign = make_campaign(bob)
    split = add_split(campaign)
    with pytest.raises(ValidationError, match="Choose a branch of 'Welcome test': A, B"):
        add_action(campaign, parent=split, name="Nowhere")
    with pytest.raises(ValidationError, match="Choose a branch"):
        add_action(campaign, parent=split, name="Wrong", branch="C")
    with pytest.raises(ValidationError, match="uses the trigger 'activity'"):
        add_action(campaign, parent=split, name="On open", branch="A", trigger="mail_open")
    email = add_email(campaign)
    with pytest.raises(ValidationError, match="Only an activity under a split has a branch"):
        add_action(campaign, parent=email, name="Stray", branch="A", trigger="mail_open")
    assert add_action(campaign, parent=split, name="Fine", branch="A").branch == "A"


def test_branches_with_activities_or_participants_cannot_be_removed(clock, bob):
    make_contacts(10)
    campaign = make_campaign(bob)
    split = add_split(campaign)
    add_action(campaign, parent=split, name="Tag A", branch="A")
    renamed = [{"name": "A2", "weight": 50}, {"name": "B", "weight": 50}]
    with pytest.raises(ValidationError, match="'A' still has the activity 'Tag A'"):
        services.update_activity(split, branches=renamed)
    with pytest.raises(ValidationError, match="must stay a split"):
        services.update_activity(
            split, kind="action", server_action=add_action(campaign).server_action
        )
    services.start_campaign(campaign, bob)
    tick()
    fewer = [{"name": "A", "weight": 50}, {"name": "C", "weight": 50}]
    split.refresh_from_db()
    with pytest.raises(ValidationError, match="sent down branch 'B'"):
        services.update_activity(split, branches=fewer)
    more = [*HALF, {"name": "C", "weight": 20}]
    split.refresh_from_db()
    assert services.update_activity(split, branches=more).branch_names == ["A", "B", "C"]


def split_batch_statements(bob, size: int, name: str) -> int:
    Contact.objects.bulk_create(
        Contact(name=f"{name} {i}", email=f"{name.lower()}{i}@example.com", city=name)
        for i in range(size)
    )
    campaign = make_campaign(bob, name=name, domain=[["city", "=", name]])
    split = add_split(campaign, name=f"{name} split")
    for branch in ("A", "B"):
        add_action(campaign, parent=split, name=f"{name} {branch}", branch=branch, delay_amount=1)
    services.start_campaign(campaign, bob)
    with CaptureQueriesContext(connection) as ctx:
        execute.execute_batch(split, START, limit=5000)
    assert SplitAssignment.objects.filter(split=split).count() == size
    assert Trace.objects.filter(activity__parent=split).count() == size
    return len(ctx.captured_queries)


def test_a_split_batch_of_10_or_1000_takes_the_same_statements(clock, bob):
    # One UPDATE … RETURNING takes the batch; then one INSERT of the assignments, one INSERT
    # per child activity (joined with the assignments), one UPDATE of completed participants.
    assert split_batch_statements(bob, 10, "Small") == split_batch_statements(bob, 1000, "Large")
