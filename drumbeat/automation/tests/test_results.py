"""Results (automation/results.py, proportions.py) against counts whose statistics were worked
out by hand: rates, Wilson intervals, Newcombe differences, z and Fisher tests, verdicts.

z = 1.959964 (the 97.5th percentile of the standard normal) throughout.
"""

from datetime import timedelta

import pytest
from django.db.models import Count, F, Q

from drumbeat.automation import proportions, results, services
from drumbeat.automation.goals import check_campaign_goal
from drumbeat.automation.models import Participant, SplitAssignment, Trace
from drumbeat.contacts import services as contact_services
from drumbeat.contacts.models import Contact
from drumbeat.mailing import events
from drumbeat.mailing.models import Message

from .fixtures import START, add_action, add_email, make_campaign, make_contacts, tick, traces

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

DAY = timedelta(days=1)


def approx(value, tolerance=1e-4):
    return pytest.approx(value, abs=tolerance)


def enrol(campaign, n: int, first: int = 0, is_test: bool = False) -> list[Participant]:
    contacts = Contact.objects.bulk_create(
        Contact(name=f"P{i}", email=f"p{i}@example.com") for i in range(first, first + n)
    )
    return Participant.objects.bulk_create(
        Participant(campaign=campaign, record_id=c.pk, enrolled_at=START, is_test=is_test)
        for c in contacts
    )


def assign(split, participants, branch, converted=0, randomized=True, converted_at=None):
    """Assign `participants` to `branch` at START; the first `converted` convert a day later
    (or at `converted_at`)."""
    SplitAssignment.objects.bulk_create(
        SplitAssignment(
            participant=p, split=split, branch=branch, randomized=randomized, assigned_at=START
        )
        for p in participants
    )
    ids = [p.pk for p in participants[:converted]]
    Participant.objects.filter(pk__in=ids).update(converted_at=converted_at or START + DAY)


def test_a_split_against_its_holdout_with_hand_computed_statistics(bob):
    campaign = make_campaign(bob, goal_domain=[["tags.name", "=", "Customer"]])
    split = services.create_activity(
        campaign,
        name="Welcome test",
        kind="split",
        branches=[{"name": "Email", "weight": 50}, {"name": "Holdout", "weight": 50}],
    )
    email = add_email(campaign, parent=split, branch="Email")
    people = enrol(campaign, 400 + 5 + 10)
    holdout, mailed = people[:200], people[200:400]
    assign(split, holdout, "Holdout", converted=30)
    assign(split, mailed, "Email", converted=50)
    # Left out of the comparison: 5 converted before they reached the split, 10 sent to a
    # declared winner.
    assign(split, people[400:405], "Email", converted=5, converted_at=START - DAY)
    assign(split, people[405:], "Email", converted=10, randomized=False)
    # The 200 emails: 80 opened by people, 10 more opened by scanners only, 20 clicked.
    traces = Trace.objects.bulk_create(
        Trace(participant=p, activity=email, state="processed", executed_at=START) for p in mailed
    )
    for i, trace in enumerate(traces):
        message = Message.objects.create(
            channel="email",
            recipient=f"m{i}@example.com",
            message_id=f"<m{i}@x>",
            token=f"t{i}",
            trace_id=trace.pk,
            state="sent",
            opened_at=START + DAY if i < 90 else None,
        )
        Trace.objects.filter(pk=trace.pk).update(
            message=message,
            human_opened_at=START + DAY if i < 80 else None,
            human_clicked_at=START + DAY if i < 20 else None,
        )
    enrol(campaign, 3, first=1000, is_test=True)

    found = results.campaign_results(campaign)
    (result,) = found.splits
    assert (result.metric, result.control) == ("conversions", "Holdout")
    assert (result.by_winner, result.earlier_converted) == (10, 5)
    control, variant = {b.name: b for b in result.branches}["Holdout"], result.branches[0]
    assert variant.name == "Email" and variant.activities == ["Welcome email"]
    assert (control.figures.participants, control.figures.conversions) == (200, 30)
    assert (variant.figures.participants, variant.figures.conversions) == (200, 50)
    assert (variant.share, control.share) == (50.0, 50.0)

    # Holdout 30/200 = 0.15. Wilson: z²/n = 3.841459/200 = 0.0192073, d = 1.0192073,
    # centre = (0.15 + 0.0096036)/d = 0.1565960,
    # half = (z/d)·√(0.15·0.85/200 + z²/(4·200²)) = 1.923030·√0.0006615091 = 0.0494600
    # → [0.107136, 0.206056].
    assert control.figures.conversion_rate == approx(0.15)
    interval = control.figures.conversion_interval
    assert (interval.low, interval.high) == (approx(0.107136), approx(0.206056))
    # Email 50/200 = 0.25: centre = 0.2596036/d = 0.2547106,
    # half = 1.923030·√(0.25·0.75/200 + 0.0000240091) = 1.923030·0.0310082 = 0.0596297
    # → [0.195081, 0.314341].
    interval = variant.figures.conversion_interval
    assert (interval.low, interval.high) == (approx(0.195081), approx(0.314341))

    # Expected counts (pooled 80/400 = 0.2: 40 and 160 per group) are all ≥ 5: z-test.
    # se = √(0.2·0.8·(1/200 + 1/200)) = √0.0016 = 0.04, z = (0.25 - 0.15)/0.04 = 2.5,
    # p = 2·(1 - Φ(2.5)) = 2·0.0062097 = 0.0124193 < 0.05: Email converts better.
    comparison = variant.comparison
    assert comparison.test == proportions.Z_TEST
    assert comparison.p_value == approx(0.0124193)
    assert (comparison.verdict, comparison.alpha) == ("better", 0.05)
    # Newcombe: 0.10 - √((0.25 - 0.195081)² + (0.206056 - 0.15)²) = 0.10 - √0.0061584 = 0.021525;
    # 0.10 + √((0.314341 - 0.25)² + (0.15 - 0.107136)²) = 0.10 + √0.0059771 = 0.177312.
    assert comparison.difference == approx(0.10)
    assert (comparison.interval.low, comparison.interval.high) == (
        approx(0.021525),
        approx(0.177312),
    )
    assert control.comparison is None

    # Messages of the branch: 200 sent, 80 opened by people (40 %), 10 by scanners only
    # (left out), 20 clicked (10 %).
    assert (variant.figures.sends, variant.figures.opens, variant.figures.machine_opens) == (
        200,
        80,
        10,
    )
    assert variant.figures.open_rate == 0.4 and variant.figures.click_rate == 0.1
    assert (control.figures.sends, control.figures.open_rate) == (0, None)
    # Per activity: 200 processed, 50 converted after it ran.
    by_activity = {a.activity.name: a.figures for a in found.activities}
    assert (
        by_activity["Welcome email"].participants,
        by_activity["Welcome email"].conversions,
    ) == (
        200,
        50,
    )
    # The campaign: 415 real participants, 95 conversions (30 + 50 + 5 + 10); tests apart.
    assert (found.figures.participants, found.figures.conversions) == (415, 95)
    assert len(found.tests) == 3
    assert found.as_dict()["splits"][0]["branches"][0]["comparison"]["verdict"] == "better"


def test_small_counts_use_fishers_exact_test():
    # 0/30 against 6/30: 6 conversions in 60, expected 3 per group (< 5): Fisher.
    # P(k conversions in the control) = C(6,k)·C(54,30-k)/C(60,30); both groups have 30, so
    # the distribution is symmetric and the tables at most as likely as k = 0 are k = 0 and 6:
    # P(0) = C(54,30)/C(60,30) = (30·29·28·27·26·25)/(60·59·58·57·56·55)
    #      = 427,518,000/36,045,979,200 = 0.0118604; p = 2·0.0118604 = 0.0237207.
    comparison = proportions.compare((0, 30), (6, 30))
    assert comparison.test == proportions.FISHER
    assert comparison.p_value == approx(0.0237207)
    assert comparison.verdict == "better"
    # Wilson of 0/30: centre = (z²/60)/(1 + z²/30) = 0.0640243/1.1280486 = 0.0567568 and
    # half = (z/1.1280486)·(z/60) = 0.0567568: [0, 0.113514].
    assert proportions.wilson(0, 30) == proportions.Interval(0.0, approx(0.113514))


def test_several_variants_share_the_five_percent_level():
    # 30/200 against 46/200: pooled 76/400 = 0.19, se = √(0.19·0.81·0.01) = 0.0392301,
    # z = 0.08/0.0392301 = 2.0393, p = 2·(1 - Φ(2.0393)) = 0.04142.
    alone = proportions.compare((30, 200), (46, 200))
    assert alone.p_value == approx(0.04142, 1e-4)
    assert alone.verdict == "better"
    # Against two variants (Bonferroni) each test is held to 0.05/2 = 0.025 > 0.04142.
    shared = proportions.compare((30, 200), (46, 200), comparisons=2)
    assert (shared.alpha, shared.verdict) == (0.025, "no significant difference")


def test_it_says_not_enough_data_yet_until_the_test_can_say_something():
    # Fewer than 20 participants in a group.
    early = proportions.compare((1, 15), (9, 15))
    assert (early.verdict, early.p_value) == ("not enough data yet", None)
    assert early.difference == approx(8 / 15)  # 9/15 - 1/15
    # 500 per group but 4 conversions in all: even all 4 in one group could not be significant.
    # The most lopsided table, 0 and 4, has P = C(500,4)/C(1000,4)
    # = (500·499·498·497)/(1000·999·998·997) = 0.0622617 on each side: p = 0.1245 > 0.05.
    assert not proportions.can_be_significant((0, 500), (4, 500), 0.05)
    assert proportions.compare((0, 500), (4, 500)).verdict == "not enough data yet"
    # 30 per group and 6 conversions: 0 and 6 would give p = 0.0237 (see the Fisher test
    # above) < 0.05, so 3 and 3 gets a verdict (no difference, p = 1).
    assert proportions.can_be_significant((3, 30), (3, 30), 0.05)
    even = proportions.compare((3, 30), (3, 30))
    assert (even.verdict, even.p_value) == ("no significant difference", approx(1.0))
    # An empty group: no rate, no difference.
    nothing = proportions.compare((0, 0), (3, 40))
    assert (nothing.verdict, nothing.difference) == ("not enough data yet", None)


def test_without_a_goal_branches_are_compared_on_who_clicked(bob):
    campaign = make_campaign(bob)
    split = services.create_activity(
        campaign,
        name="Subject test",
        kind="split",
        branches=[{"name": "A", "weight": 1}, {"name": "B", "weight": 1}],
    )
    (result,) = results.campaign_results(campaign).splits
    assert (result.metric, result.control) == ("clickers", "A")
    assert [b.figures.participants for b in result.branches] == [0, 0]
    assert result.branches[1].comparison.verdict == "not enough data yet"
    assert split.pk == result.split.pk


def message_figures() -> dict:
    """The message figures of a trace queryset counted row by row (for `.annotate`): the
    aggregates the results read before the roll-ups."""
    clicked = Q(human_clicked_at__isnull=False)
    return {
        "sends": Count("id", filter=Q(message__state__in=results.SENT_STATES)),
        "opens": Count("id", filter=Q(human_opened_at__isnull=False)),
        "machine_opens": Count(
            "id", filter=Q(message__opened_at__isnull=False, human_opened_at__isnull=True)
        ),
        "clicks": Count("id", filter=clicked),
        "clickers": Count("participant", distinct=True, filter=clicked),
    }


def counted_from_the_traces(activity) -> dict[str, int]:
    """An activity's figures counted from its traces row by row (the aggregate the results
    read before the roll-ups): the oracle of the test below."""
    processed = Q(state=Trace.State.PROCESSED)
    return Trace.objects.filter(activity=activity, is_test=False).aggregate(
        participants=Count("participant", distinct=True, filter=processed),
        conversions=Count(
            "participant",
            distinct=True,
            filter=processed & Q(participant__converted_at__gte=F("executed_at")),
        ),
        **message_figures(),
    )


def test_the_activity_figures_equal_the_traces_counted_row_by_row(clock, bob, smtp, committed):
    """The figures per activity come from the roll-ups, the converted participants and the
    traces people opened: on a campaign the engine ran (emails through a real SMTP server,
    opens by scanners and people, clicks, a reply, a bounce, conversions before and after the
    follow-up, a test participant) they equal the traces counted row by row."""
    hour = timedelta(hours=1)
    people = make_contacts(12)
    campaign = make_campaign(bob, goal_domain=[["tags.name", "=", "Customer"]])
    email = add_email(campaign)
    follow_up = add_action(campaign, parent=email, name="Follow-up", delay_amount=2)
    services.start_campaign(campaign, bob)
    tester = Contact.objects.create(name="Tester", email="tester@example.com")
    services.launch_test(campaign, tester.pk, bob)
    tick()
    sent = [t.message_id for t in traces(email, is_test=False)]
    assert len(sent) == 12 and all(sent)
    with committed():
        events.mark_opened(sent[0:4], START + hour, machine=True)  # link scanners
        events.mark_opened(sent[2:6], START + 2 * hour)  # people (two after a scanner)
        events.mark_clicked(sent[6], START + 2 * hour)  # a click is an open too
        events.mark_clicked(sent[2], START + 3 * hour)
        events.mark_replied(sent[7], START + 3 * hour)  # read, no image loaded
        events.mark_bounced(sent[8], START + hour, kind="hard")
    customer = contact_services.get_or_create_tags(["Customer"])[0]
    customer.contacts.add(*people[:3])  # converted before the follow-up ran...
    clock.move_to(START + 4 * hour)
    assert check_campaign_goal(campaign) == 3
    clock.move_to(START + 3 * timedelta(days=1))
    tick()
    customer.contacts.add(*people[3:5])  # ...and after it
    clock.move_to(START + 4 * timedelta(days=1))
    assert check_campaign_goal(campaign) == 2

    found = {a.activity.pk: a.figures for a in results.campaign_results(campaign).activities}
    for activity in (email, follow_up):
        expected = counted_from_the_traces(activity)
        figures = found[activity.pk]
        assert {name: getattr(figures, name) for name in expected} == expected
    # What the oracle says, for the record: every figure is exercised.
    assert counted_from_the_traces(email) == {
        "participants": 12,
        "conversions": 5,
        "sends": 12,
        "opens": 6,
        "machine_opens": 2,
        "clicks": 2,
        "clickers": 2,
    }
    assert counted_from_the_traces(follow_up)["conversions"] == 2


def branch_figures_counted_row_by_row(split) -> dict[str, dict[str, int]]:
    """Each branch's message figures counted from the traces of its participants drawn at
    random there, joined through their assignment (the aggregate the results read before they
    grouped the traces by the branch of their activity): the oracle of the test below."""
    parents = dict(split.campaign.activities.values_list("pk", "parent_id"))
    subtree = set()
    for pk in parents:
        parent = parents[pk]
        while parent is not None and parent != split.pk:
            parent = parents.get(parent)
        if parent == split.pk:
            subtree.add(pk)
    return {
        row.pop("participant__assignments__branch"): row
        for row in Trace.objects.filter(
            activity_id__in=subtree,
            is_test=False,
            participant__assignments__split=split,
            participant__assignments__randomized=True,
        )
        .values("participant__assignments__branch")
        .annotate(**message_figures())
        .order_by()
    }


def test_branch_figures_equal_the_traces_of_their_participants_drawn_at_random(bob):
    """A branch of two emails (a participant clicking both is one clicker), people sent to the
    declared winner and test participants on the same steps (left out), a branch no one
    reached yet: the figures equal the traces counted through each participant's assignment."""
    campaign = make_campaign(bob)
    split = services.create_activity(
        campaign,
        name="Subject test",
        kind="split",
        branches=[
            {"name": "A", "weight": 1},
            {"name": "B", "weight": 1},
            {"name": "C", "weight": 1},
        ],
    )
    first = add_email(campaign, parent=split, branch="A")
    second = add_email(campaign, parent=first, name="Reminder", trigger="mail_not_open")
    other = add_email(campaign, parent=split, branch="B", name="Other subject")
    add_email(campaign, parent=split, branch="C", name="Third subject")
    people = enrol(campaign, 40)
    testers = enrol(campaign, 4, first=100, is_test=True)
    assign(split, people[:20], "A")
    assign(split, people[20:30], "B")
    assign(split, people[30:], "A", randomized=False)  # after B was declared the loser
    assign(split, testers, "A")
    n = 0
    for participants, steps in (
        (people[:20] + people[30:] + testers, (first, second)),
        (people[20:30], (other,)),
    ):
        for step in steps:
            for i, participant in enumerate(participants):
                n += 1
                trace = Trace.objects.create(
                    participant=participant,
                    activity=step,
                    state="processed",
                    executed_at=START,
                    is_test=participant.is_test,
                )
                message = Message.objects.create(
                    channel="email",
                    recipient=f"r{n}@example.com",
                    message_id=f"<r{n}@x>",
                    token=f"r{n}",
                    trace_id=trace.pk,
                    state="bounced" if i % 9 == 0 else "sent",
                    opened_at=START + DAY if i % 2 == 0 else None,
                )
                Trace.objects.filter(pk=trace.pk).update(
                    message=message,
                    human_opened_at=START + DAY if i % 4 == 0 else None,
                    human_clicked_at=START + DAY if i % 3 == 0 else None,
                )

    (result,) = results.campaign_results(campaign).splits
    expected = branch_figures_counted_row_by_row(split)
    found = {
        b.name: {name: getattr(b.figures, name) for name in expected["A"]} for b in result.branches
    }
    assert found == {**expected, "C": dict.fromkeys(expected["A"], 0)}
    # What the oracle says, for the record: 20 drawn at random on A, two emails each; those
    # who clicked (i % 3 == 0) clicked both, so 7 clickers for 14 clicks.
    assert expected["A"] == {
        "sends": 40,
        "opens": 10,
        "machine_opens": 10,
        "clicks": 14,
        "clickers": 7,
    }
    assert (result.by_winner, [b.figures.participants for b in result.branches]) == (
        10,
        [20, 10, 0],
    )
