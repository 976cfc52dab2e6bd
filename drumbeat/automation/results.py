"""The results of a campaign: did it work, and which version won? (the Results tab and
`GET /api/v1/campaigns/{id}/results`). Aggregates only; test participants are left out and
listed apart.

- Campaign: participants, conversions (participants who reached the goal), conversion rate
  with its 95 % Wilson interval.
- Per split and branch: participants, sends, opens and clicks by people (machine opens, left
  out, are counted apart), participants who clicked, conversions, rates with their intervals,
  and against the control (the holdout, else the first branch) the difference with its
  interval and the test of proportions.py. The comparison is on conversions when the campaign
  has a goal, otherwise on the share of participants who clicked. It counts only participants
  drawn at random (not those sent to a declared winner) and leaves out those who had reached
  the goal before the split.
- Per activity: participants it processed, sends, opens, clicks, conversions after it (goal
  reached after the activity ran) with their rate and interval.

A constant number of queries: six for the campaign, plus one per split (its roll-up). The
campaign's figures and those of its activities come from the roll-ups (automation/rollups.py)
and from the converted participants, so their cost does not grow with the campaign (where one
aggregate over the traces took 21 s at 10,000,000 participants); a split's branches come from
the roll-up of its assignments, each of which keeps its participant's figures under the split
(where counting them from the traces took 1.6 s at 1,000,000 participants).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import proportions, rollups, splits
from .models import Activity, Campaign, Participant, Trace
from .proportions import Comparison, Interval

SENT_STATES = ("sent", "bounced")
BRANCH_FIGURES = (
    "participants",
    "sends",
    "opens",
    "machine_opens",
    "clicks",
    "clickers",
    "conversions",
)
CONVERSIONS = "conversions"
CLICKERS = "clickers"


@dataclass
class Figures:
    participants: int = 0
    sends: int = 0
    opens: int = 0  # messages opened by a person (machine opens left out)
    machine_opens: int = 0  # messages opened only by link scanners or privacy proxies
    clicks: int = 0  # messages clicked by a person
    clickers: int = 0  # participants who clicked
    conversions: int = 0

    @property
    def conversion_rate(self) -> float | None:
        return proportions.rate(self.conversions, self.participants)

    @property
    def conversion_interval(self) -> Interval | None:
        return proportions.wilson(self.conversions, self.participants)

    @property
    def open_rate(self) -> float | None:
        return proportions.rate(self.opens, self.sends)

    @property
    def click_rate(self) -> float | None:
        return proportions.rate(self.clicks, self.sends)

    @property
    def clicker_rate(self) -> float | None:
        return proportions.rate(self.clickers, self.participants)

    def as_dict(self) -> dict[str, Any]:
        interval = self.conversion_interval
        return {
            "participants": self.participants,
            "sends": self.sends,
            "opens": self.opens,
            "machine_opens": self.machine_opens,
            "clicks": self.clicks,
            "clickers": self.clickers,
            "conversions": self.conversions,
            "open_rate": self.open_rate,
            "click_rate": self.click_rate,
            "clicker_rate": self.clicker_rate,
            "conversion_rate": self.conversion_rate,
            "conversion_interval": interval.as_dict() if interval else None,
        }


@dataclass
class BranchResult:
    name: str
    weight: int
    share: float  # percent of the participants the weights send here
    is_control: bool
    is_winner: bool
    activities: list[str]
    figures: Figures
    compared: tuple[int, int]  # (successes, participants) of the compared metric
    comparison: Comparison | None = None  # None for the control

    @property
    def compared_rate(self) -> float | None:
        return proportions.rate(*self.compared)

    @property
    def compared_interval(self) -> Interval | None:
        return proportions.wilson(*self.compared)

    def as_dict(self) -> dict[str, Any]:
        interval = self.compared_interval
        return {
            "name": self.name,
            "weight": self.weight,
            "share": self.share,
            "is_control": self.is_control,
            "is_winner": self.is_winner,
            "activities": self.activities,
            **self.figures.as_dict(),
            "compared_rate": self.compared_rate,
            "compared_interval": interval.as_dict() if interval else None,
            "comparison": self.comparison.as_dict() if self.comparison else None,
        }


@dataclass
class SplitResult:
    split: Activity
    metric: str  # CONVERSIONS or CLICKERS
    control: str
    branches: list[BranchResult]
    by_winner: int  # participants sent to the declared winner (not compared)
    earlier_converted: int  # participants who had reached the goal before the split

    @property
    def test_names(self) -> list[str]:
        return sorted({b.comparison.test for b in self.branches if b.comparison})

    def as_dict(self) -> dict[str, Any]:
        return {
            "split": self.split.pk,
            "name": self.split.name,
            "metric": self.metric,
            "control": self.control,
            "winner": self.split.winner or None,
            "winner_at": self.split.winner_at,
            "sent_to_winner": self.by_winner,
            "converted_before_split": self.earlier_converted,
            "branches": [b.as_dict() for b in self.branches],
        }


@dataclass
class ActivityResult:
    activity: Activity
    figures: Figures
    depth: int = 0  # in the workflow tree (results list activities in tree order)

    def as_dict(self) -> dict[str, Any]:
        return {
            "activity": self.activity.pk,
            "name": self.activity.name,
            "kind": self.activity.kind,
            "branch": self.activity.branch or None,
            **self.figures.as_dict(),
        }


@dataclass
class TestParticipant:
    participant: Participant
    branches: dict[str, str]  # split name -> branch
    converted_at: datetime | None


@dataclass
class CampaignResults:
    campaign: Campaign
    figures: Figures
    splits: list[SplitResult] = field(default_factory=list)
    activities: list[ActivityResult] = field(default_factory=list)
    tests: list[TestParticipant] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        c = self.campaign
        return {
            "campaign": c.pk,
            "goal": {
                "goal_domain": c.goal_domain,
                "goal_window_days": c.goal_window_days,
                "exit_on_goal": c.exit_on_goal,
            }
            if c.has_goal
            else None,
            "participants": self.figures.participants,
            "conversions": self.figures.conversions,
            "conversion_rate": self.figures.conversion_rate,
            "conversion_interval": (
                self.figures.conversion_interval.as_dict()
                if self.figures.conversion_interval
                else None
            ),
            "splits": [s.as_dict() for s in self.splits],
            "activities": [a.as_dict() for a in self.activities],
            "tests": [
                {
                    "participant": t.participant.pk,
                    "record_id": t.participant.record_id,
                    "state": t.participant.state,
                    "branches": t.branches,
                    "converted_at": t.converted_at,
                }
                for t in self.tests
            ],
        }


def campaign_results(campaign: Campaign) -> CampaignResults:
    activities = list(campaign.activities.order_by("delay_hours", "id"))
    # Everyone ever enrolled: removed participants too (a record that reached the goal
    # often stops matching the filter).
    counts = rollups.participant_counts([campaign.pk]).get(campaign.pk, {})
    real = {key: n for key, n in counts.items() if not key[1]}  # key: state, test, converted
    results = CampaignResults(
        campaign,
        Figures(
            participants=sum(real.values()),
            conversions=sum(n for (_, _, converted), n in real.items() if converted),
        ),
    )
    children: dict[int | None, list[Activity]] = {}
    for activity in activities:
        children.setdefault(activity.parent_id, []).append(activity)
    results.activities = activity_results(campaign, tree_order(children))
    for split in (a for a in activities if a.is_split):
        results.splits.append(split_result(campaign, split, children))
    if any(is_test for _, is_test, _ in counts):
        results.tests = test_participants(campaign)
    return results


def tree_order(children: dict[int | None, list[Activity]]) -> list[tuple[Activity, int]]:
    """The activities depth first (each followed by its children), with their depth."""
    found: list[tuple[Activity, int]] = []
    stack = [(a, 0) for a in reversed(children.get(None, []))]
    while stack:
        activity, depth = stack.pop()
        found.append((activity, depth))
        stack.extend((c, depth + 1) for c in reversed(children.get(activity.pk, [])))
    return found


def activity_results(
    campaign: Campaign, activities: list[tuple[Activity, int]]
) -> list[ActivityResult]:
    """Figures per activity (given with their depth), from the roll-ups: participants it
    processed, and of those how many a person opened and clicked, from the trace roll-up (a
    participant has at most one trace of an activity, so traces count participants); sends
    and opens of its messages from the message roll-up (a person's open, click or reply
    opens the message too, so the machine opens are the opened messages no person opened);
    conversions after it from the conversion roll-up."""
    ids = [activity.pk for activity, _ in activities]
    traces = rollups.trace_counts(ids)
    people = rollups.engagement_counts(ids)
    messages = rollups.message_counts(ids)
    converted = rollups.conversion_counts(ids)
    found = []
    for activity, depth in activities:
        opened, clicked = people.get(activity.pk, (0, 0))
        sent = messages.get(activity.pk, {})
        figures = Figures(
            participants=traces.get(activity.pk, {}).get(Trace.State.PROCESSED, 0),
            sends=sent.get("sent") or 0,
            opens=opened,
            machine_opens=max(0, (sent.get("opened") or 0) - opened),
            clicks=clicked,
            clickers=clicked,
            conversions=converted.get(activity.pk, 0),
        )
        found.append(ActivityResult(activity, figures, depth))
    return found


def split_result(
    campaign: Campaign, split: Activity, children: dict[int | None, list[Activity]]
) -> SplitResult:
    """A split's branches compared with its control, from the roll-up of its assignments (one
    query): participants, conversions and the sums of each assignment's counters of the
    messages and traces under the split (machine opens: messages opened that no person
    opened; a person's open, click or reply opens the message too)."""
    under: dict[str, list[Activity]] = {name: [] for name in split.branch_names}
    for child in children.get(split.pk, []):
        under.setdefault(child.branch, []).append(child)
    control = splits.control_branch(split, under)
    metric = CONVERSIONS if campaign.has_goal else CLICKERS
    by_winner = earlier = 0
    per_branch: dict[str, dict[str, int]] = {}
    for (branch, randomized, phase), sums in rollups.assignment_counts([split.pk])[
        split.pk
    ].items():
        if not randomized:
            by_winner += sums["n"]
            continue
        counted = per_branch.setdefault(branch, dict.fromkeys(BRANCH_FIGURES, 0))
        # Their messages count; those who had reached the goal before the split do not.
        for name in ("sends", "opens", "clicks", "clickers"):
            counted[name] += sums[name]
        counted["machine_opens"] += sums["opened"] - sums["opens"]
        if phase == "before":
            earlier += sums["n"]
        else:
            counted["participants"] += sums["n"]
            counted["conversions"] += sums["n"] if phase == "after" else 0
    shares = splits.shares(split)
    branches = []
    for branch in split.branches:
        name = branch["name"]
        figures = Figures(**per_branch.get(name, {}))
        successes = figures.conversions if metric == CONVERSIONS else figures.clickers
        branches.append(
            BranchResult(
                name=name,
                weight=int(branch["weight"]),
                share=shares[name],
                is_control=name == control,
                is_winner=name == split.winner,
                activities=[a.name for a in under.get(name, [])],
                figures=figures,
                compared=(successes, figures.participants),
            )
        )
    reference = next(b for b in branches if b.is_control)
    others = [b for b in branches if not b.is_control]
    for b in others:
        b.comparison = proportions.compare(reference.compared, b.compared, len(others))
    return SplitResult(split, metric, control, branches, by_winner, earlier)


def test_participants(campaign: Campaign, limit: int = 20) -> list[TestParticipant]:
    """The campaign's latest test participants with their branches and conversion."""
    tests = list(
        Participant.objects.filter(campaign=campaign, is_test=True).order_by("-enrolled_at")[:limit]
    )
    names = dict(campaign.activities.filter(kind=Activity.Kind.SPLIT).values_list("id", "name"))
    assigned = splits.assignments_of(t.pk for t in tests)
    return [
        TestParticipant(
            t,
            {names.get(s, str(s)): b for s, b in assigned.get(t.pk, {}).items()},
            t.converted_at,
        )
        for t in tests
    ]
