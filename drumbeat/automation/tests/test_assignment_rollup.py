"""The split assignments per branch (the workflow page's branch counts, the Results tab's
participants and conversions per branch) come from a roll-up (`AssignmentRollup`,
rollup_sql.py `assignment`) that must equal the assignments counted with their participants
(rollup_check.py): after the engine draws branches, conversions before and after the split,
a declared winner, a test participant, deletes of participants and of the campaign; and, on
PostgreSQL, when a participant converts while a batch assigns it in another transaction, in
either order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F

from drumbeat.automation import results, services, splits
from drumbeat.automation.goals import check_campaign_goal
from drumbeat.automation.models import Participant, SplitAssignment
from drumbeat.contacts import services as contact_services
from drumbeat.contacts.models import Contact
from drumbeat.mailing import events
from drumbeat.mailing.models import Message

from .fixtures import (
    START,
    add_email,
    assert_second_waits_for_first,
    make_campaign,
    make_contacts,
    make_user,
    tick,
)
from .rollup_check import differences

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

DAY = timedelta(days=1)
CUSTOMER = [["tags.name", "=", "Customer"]]
HALF = [{"name": "A", "weight": 50}, {"name": "B", "weight": 50}]


def counted_from_the_assignments(split) -> dict[str, int]:
    """Participants sent down each branch, test ones left out, counted row by row."""
    counts: dict[str, int] = {}
    rows = SplitAssignment.objects.filter(split=split, participant__is_test=False)
    for branch in rows.values_list("branch", flat=True):
        counts[branch] = counts.get(branch, 0) + 1
    return counts


def split_with_early_conversions(clock, bob, size: int, early: int):
    """A started goal campaign of `size` contacts whose split runs a day later, the first
    `early` of them converted (tagged Customer) before it: (people, campaign, split, tag)."""
    people = make_contacts(size)
    campaign = make_campaign(bob, goal_domain=CUSTOMER)
    split = services.create_activity(
        campaign, name="Subject test", kind="split", branches=HALF, delay_amount=1
    )
    add_email(campaign, parent=split, branch="A", trigger="activity")
    services.start_campaign(campaign, bob)
    customer = contact_services.get_or_create_tags(["Customer"])[0]
    customer.contacts.add(*people[:early])
    clock.move_to(START + timedelta(hours=2))
    assert check_campaign_goal(campaign) == early
    return people, campaign, split, customer


def test_the_roll_up_follows_draws_conversions_winners_tests_and_deletes(clock, bob):
    people, campaign, split, customer = split_with_early_conversions(clock, bob, 40, 5)
    clock.move_to(START + 2 * DAY)
    tick()
    assert SplitAssignment.objects.filter(split=split).count() == 40
    assert differences() == {}
    customer.contacts.add(*people[5:12])  # converted after it
    assert check_campaign_goal(campaign) == 7
    assert differences() == {}

    splits.declare_winner(split, "B", bob)
    Contact.objects.bulk_create(
        Contact(name=f"Late {i}", email=f"late{i}@example.com") for i in range(6)
    )
    tester = Contact.objects.create(name="Tester", email="tester@example.com")
    services.launch_test(campaign, tester.pk, bob)
    clock.move_to(START + 5 * DAY)
    tick()  # enrols them
    clock.move_to(START + 7 * DAY)
    tick()  # their split ran
    late = SplitAssignment.objects.filter(split=split, randomized=False)
    assert late.filter(participant__is_test=False).count() == 6
    assert late.filter(participant__is_test=True).exists()
    assert differences() == {}
    assert splits.branch_counts(campaign) == {split.pk: counted_from_the_assignments(split)}
    (result,) = results.campaign_results(campaign).splits
    assert (result.by_winner, result.earlier_converted) == (6, 5)
    drawn = {b.name: (b.figures.participants, b.figures.conversions) for b in result.branches}
    assert drawn == compared_from_the_assignments(split)
    assert sum(n for n, _ in drawn.values()) == 40 - 5
    assert sum(c for _, c in drawn.values()) == 7

    first = SplitAssignment.objects.filter(split=split).values_list("participant", flat=True)[:3]
    Participant.objects.filter(pk__in=list(first)).delete()
    assert differences() == {}
    campaign.delete()
    assert differences() == {}


def compared_from_the_assignments(split) -> dict[str, tuple[int, int]]:
    """Branch → (participants, conversions) of the comparison counted row by row: drawn at
    random, not test ones, those converted before the split left out."""
    found = {}
    for branch in split.branch_names:
        rows = SplitAssignment.objects.filter(
            split=split, branch=branch, randomized=True, participant__is_test=False
        )
        found[branch] = (
            rows.exclude(participant__converted_at__lt=F("assigned_at")).count(),
            rows.filter(participant__converted_at__gte=F("assigned_at")).count(),
        )
    return found


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first", ["assignment", "conversion"])
def test_an_assignment_and_a_conversion_at_once_are_counted_once(first):
    """Each side's trigger runs before the other's commit: without the campaign's advisory
    lock the assignment would be counted in the phase its participant had before converting,
    and the conversion would move no assignment."""
    bob = make_user("bob")
    make_contacts(1)
    campaign = make_campaign(bob, goal_domain=CUSTOMER)
    split = services.create_activity(campaign, name="Subject test", kind="split", branches=HALF)
    services.start_campaign(campaign, bob)
    participant = Participant.objects.get(campaign=campaign)
    SplitAssignment.objects.filter(split=split).delete()  # the start may not have drawn yet
    assign = (
        "INSERT INTO automation_splitassignment (participant_id, split_id, branch, randomized,"
        " assigned_at) VALUES (%s, %s, 'A', TRUE, %s)",
        [participant.pk, split.pk, START],
    )
    convert = (
        "UPDATE automation_participant SET converted_at = %s WHERE id = %s",
        [START + DAY, participant.pk],
    )
    leading, following = (assign, convert) if first == "assignment" else (convert, assign)
    assert_second_waits_for_first(leading, following)
    assert differences() == {}
    (result,) = results.campaign_results(campaign).splits
    assert [(b.figures.participants, b.figures.conversions) for b in result.branches] == [
        (1, 1),
        (0, 0),
    ]


def test_branch_figures_follow_sends_opens_clicks_tree_changes_and_deletes(
    clock, bob, smtp, committed
):
    """Emails under a split sent through a real SMTP server, opened by scanners and people,
    clicked, replied to, bounced; a follow-up on one branch; then an activity moved from one
    branch to the other and another deleted: the roll-up equals the rows, and the Results
    tab's branch figures equal the traces counted through each participant's assignment."""
    from .test_results import branch_figures_counted_row_by_row

    hour = timedelta(hours=1)
    make_contacts(30)
    campaign = make_campaign(bob)
    split = services.create_activity(campaign, name="Subject test", kind="split", branches=HALF)
    on_a = add_email(campaign, parent=split, branch="A", trigger="activity", name="Email A")
    reminder = add_email(
        campaign, parent=on_a, name="Reminder", trigger="mail_not_open", delay_amount=1
    )
    on_b = add_email(campaign, parent=split, branch="B", trigger="activity", name="Email B")
    outside = add_email(campaign, name="Welcome")  # not under the split, for now
    services.start_campaign(campaign, bob)
    tick()
    tick()
    sent = list(
        Message.objects.filter(activity_id__in=[on_a.pk, on_b.pk, outside.pk])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    assert len(sent) == 60
    with committed():
        events.mark_opened(sent[0:8], START + hour, machine=True)  # link scanners
        events.mark_opened(sent[4:12], START + 2 * hour)  # people
        events.mark_clicked(sent[12], START + 2 * hour)
        events.mark_clicked(sent[2], START + 3 * hour)
        events.mark_replied(sent[13], START + 3 * hour)
        events.mark_bounced(sent[14], START + hour, kind="hard")
        for pk in sent[40:44]:
            events.mark_clicked(pk, START + 3 * hour)
    clock.move_to(START + 2 * DAY)
    tick()  # the reminders of those who did not open
    reminders = list(Message.objects.filter(activity_id=reminder.pk).values_list("pk", flat=True))
    assert reminders
    with committed():
        events.mark_clicked(reminders[0], START + 2 * DAY + hour)
    assert differences() == {}
    assert_branch_figures(split, branch_figures_counted_row_by_row)

    services.update_activity(reminder, parent=on_b)  # the reminder's traces change branch
    assert differences() == {}
    assert_branch_figures(split, branch_figures_counted_row_by_row)
    before = results.campaign_results(campaign).splits[0].branches
    # An activity with traces comes under the split: its traces are counted again.
    services.update_activity(outside, parent=on_a, trigger="activity")
    assert differences() == {}
    assert_branch_figures(split, branch_figures_counted_row_by_row)
    after = results.campaign_results(campaign).splits[0].branches
    assert [b.figures.sends for b in after] != [b.figures.sends for b in before]
    on_b.refresh_from_db()
    on_b.delete()  # with the reminder under it now
    assert differences() == {}
    assert_branch_figures(split, branch_figures_counted_row_by_row)


def assert_branch_figures(split, oracle) -> None:
    (result,) = [
        r for r in results.campaign_results(split.campaign).splits if r.split.pk == split.pk
    ]
    expected = oracle(split)
    names = ("sends", "opens", "machine_opens", "clicks", "clickers")
    found = {b.name: {n: getattr(b.figures, n) for n in names} for b in result.branches}
    assert found == {b: expected.get(b, dict.fromkeys(names, 0)) for b in found}
    assert any(any(f.values()) for f in found.values())


def test_one_update_moving_conversions_and_test_flags_every_way_is_counted(clock, bob):
    """One UPDATE outside the engine (not paused) converts some participants, un-converts
    others, moves a conversion across the split's date and flips the test flag both ways,
    of converted and open participants; another changes neither column on every row."""
    from django.db import connection

    people, campaign, split, customer = split_with_early_conversions(clock, bob, 24, 4)
    clock.move_to(START + 2 * DAY)
    tick()
    customer.contacts.add(*people[4:10])  # converted after it
    assert check_campaign_goal(campaign) == 6
    assert differences() == {}
    ids = list(
        Participant.objects.filter(campaign=campaign).order_by("pk").values_list("pk", flat=True)
    )
    assert len(ids) == 24 and SplitAssignment.objects.filter(split=split).count() == 24
    later = START + 3 * DAY
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE automation_participant SET"
            # 0-1: converted before, now open; 2: before → after; 4-5: after, now open;
            # 12-14: open, now converted after the split
            " converted_at = CASE WHEN id IN (%s, %s, %s, %s) THEN NULL"
            " WHEN id IN (%s, %s, %s, %s) THEN %s ELSE converted_at END,"
            # 3, 6: converted, now tests; 15-16: open, now tests; 7: test stays, converts off
            " is_test = CASE WHEN id IN (%s, %s, %s, %s) THEN NOT is_test ELSE is_test END"
            " WHERE campaign_id = %s",
            [
                *(ids[i] for i in (0, 1, 4, 5)),
                *(ids[i] for i in (2, 12, 13, 14)),
                later,
                *(ids[i] for i in (3, 6, 15, 16)),
                campaign.pk,
            ],
        )
    assert differences() == {}
    with connection.cursor() as cursor:  # tests flip back: the other direction
        cursor.execute(
            "UPDATE automation_participant SET is_test = FALSE WHERE id IN (%s, %s, %s, %s)",
            [ids[i] for i in (3, 6, 15, 16)],
        )
        cursor.execute(
            "UPDATE automation_participant SET state = 'completed' WHERE campaign_id = %s",
            [campaign.pk],
        )
    assert differences() == {}
    drawn = {
        b.name: (b.figures.participants, b.figures.conversions)
        for b in results.campaign_results(campaign).splits[0].branches
    }
    assert drawn == compared_from_the_assignments(split)


@pytest.mark.postgres_only
def test_a_participant_update_never_joins_its_new_and_old_rows_by_nested_loop(bob):
    """PostgreSQL: no statement the roll-up triggers run for an UPDATE of participants joins
    the new rows to the old ones by a nested loop (auto_explain logs each statement a trigger
    runs). Version 6 of the assignment trigger did, inside EXISTS: an UPDATE of 20,000
    participants took 19 s, of 100,000 minutes."""
    import json

    from django.db import connection

    campaign = make_campaign(bob)
    Participant.objects.bulk_create(
        Participant(campaign=campaign, record_id=i, unique_key=f"p{i}", enrolled_at=START)
        for i in range(3000)
    )
    plans: list[dict] = []

    def logged(notice) -> None:
        text = notice.message_primary or ""
        if "{" in text:
            plans.append(json.loads(text[text.index("{") :])["Plan"])

    connection.connection.add_notice_handler(logged)  # LOG messages reach the client
    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        for setting, value in (
            ("log_min_duration", "0"),
            ("log_nested_statements", "on"),
            ("log_format", "json"),
        ):
            cursor.execute(f"SET LOCAL auto_explain.{setting} = {value}")
        cursor.execute("SET LOCAL client_min_messages = log")
        cursor.execute(
            "UPDATE automation_participant SET converted_at = %s,"
            " is_test = (id %% 2 = 0) WHERE campaign_id = %s",
            [START, campaign.pk],
        )
        cursor.execute(
            "UPDATE automation_participant SET state = 'completed' WHERE campaign_id = %s",
            [campaign.pk],
        )
        cursor.execute("SET LOCAL client_min_messages = notice")

    def reads_rows(node: dict) -> bool:
        return node["Node Type"] == "Named Tuplestore Scan" or any(
            reads_rows(child) for child in node.get("Plans", [])
        )

    def new_joined_to_old_by_nested_loop(node: dict) -> bool:
        children = node.get("Plans", [])
        if node["Node Type"] == "Nested Loop" and all(reads_rows(c) for c in children):
            return True
        return any(new_joined_to_old_by_nested_loop(child) for child in children)

    joining = [p for p in plans if sum(1 for _ in _tuplestores(p)) >= 2]
    assert len(joining) >= 3, plans  # the triggers' statements over both were seen
    assert not [p for p in joining if new_joined_to_old_by_nested_loop(p)]


def _tuplestores(node: dict):
    if node["Node Type"] == "Named Tuplestore Scan":
        yield node
    for child in node.get("Plans", []):
        yield from _tuplestores(child)
