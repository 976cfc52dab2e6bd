"""A campaign's results and its splits' winners over the API: `GET campaigns/{id}/results`
(automation/results.py: per branch and per activity, with the statistics of
automation/proportions.py) and `POST campaigns/{id}/declare-winner`.

Split activities themselves and the goal settings are fields of the activity and campaign
schemas (api/activities.py, api/campaigns.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import ConfigDict, Field

from drumbeat.automation import proportions, results, splits
from drumbeat.automation.models import Activity, Campaign

from .auth import current_user
from .errors import with_errors
from .fields import Id, Text
from .lookups import get_or_404

router = Router(tags=["Campaigns"])

STATISTICS = (
    "Rates come with their 95 % Wilson score interval. Each branch is compared with the control "
    "(the first branch without activities, else the first branch) on conversions to the goal "
    "(without a goal: on the share of participants who clicked): the difference with "
    "Newcombe's 95 % interval, tested with a two-sided two-proportion z-test, or Fisher's "
    "exact test when an expected count is below 5, at the 5 % level shared among the "
    "comparisons (Bonferroni). The verdict is 'not enough data yet' while a group has fewer "
    f"than {proportions.MIN_PARTICIPANTS} participants or too few conversions for any "
    "difference to be significant. Opens and clicks are those of people: link scanners are "
    "left out."
)

Verdict = Literal["not enough data yet", "better", "worse", "no significant difference"]

INTERVAL_EXAMPLE = {"low": 0.1951, "high": 0.3143}
COMPARISON_EXAMPLE = {
    "difference": 0.1,
    "interval": {"low": 0.0215, "high": 0.1773},
    "test": "two-proportion z-test",
    "p_value": 0.0124,
    "alpha": 0.05,
    "verdict": "better",
    "significant": True,
}
FIGURES_EXAMPLE = {
    "participants": 200,
    "sends": 200,
    "opens": 80,
    "machine_opens": 10,
    "clicks": 20,
    "clickers": 20,
    "conversions": 50,
    "open_rate": 0.4,
    "click_rate": 0.1,
    "clicker_rate": 0.1,
    "conversion_rate": 0.25,
    "conversion_interval": INTERVAL_EXAMPLE,
}
BRANCH_EXAMPLE = {
    **FIGURES_EXAMPLE,
    "name": "Email",
    "weight": 50,
    "share": 50.0,
    "is_control": False,
    "is_winner": False,
    "activities": ["Send welcome email"],
    "compared_rate": 0.25,
    "compared_interval": INTERVAL_EXAMPLE,
    "comparison": COMPARISON_EXAMPLE,
}
SPLIT_EXAMPLE = {
    "split": 7,
    "name": "Welcome test",
    "metric": "conversions",
    "control": "Holdout",
    "winner": None,
    "winner_at": None,
    "sent_to_winner": 0,
    "converted_before_split": 0,
    "branches": [BRANCH_EXAMPLE],
}
ACTIVITY_RESULT_EXAMPLE = {
    **FIGURES_EXAMPLE,
    "activity": 8,
    "name": "Send welcome email",
    "kind": "email",
    "branch": "Email",
}
GOAL_EXAMPLE = {
    "goal_domain": [["stage.is_won", "=", True]],
    "goal_window_days": 30,
    "exit_on_goal": True,
}
TEST_EXAMPLE = {
    "participant": 55,
    "record_id": 12,
    "state": "completed",
    "branches": {"Welcome test": "Email"},
    "converted_at": "2026-03-02T10:00:00Z",
}
WINNER_EXAMPLE = {
    "split": 7,
    "name": "Welcome test",
    "winner": "B",
    "winner_at": "2026-03-09T10:00:00Z",
}


def _example(example: dict) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class IntervalOut(Schema):
    low: float
    high: float

    model_config = _example(INTERVAL_EXAMPLE)


class ComparisonOut(Schema):
    difference: float | None = Field(description="Branch rate minus control rate")
    interval: IntervalOut | None = Field(description="Newcombe 95 % interval of the difference")
    test: Literal["two-proportion z-test", "Fisher's exact test"]
    p_value: float | None = Field(description="Two-sided; null while there is not enough data")
    alpha: float = Field(description="The level this test is held to (0.05 / comparisons)")
    verdict: Verdict
    significant: bool

    model_config = _example(COMPARISON_EXAMPLE)


class FiguresOut(Schema):
    participants: int
    sends: int = Field(description="Emails and SMS handed to the transport")
    opens: int = Field(description="Messages opened by a person (link scanners left out)")
    machine_opens: int = Field(description="Messages opened only by link scanners (left out)")
    clicks: int = Field(description="Messages clicked by a person")
    clickers: int = Field(description="Participants who clicked")
    conversions: int = Field(description="Participants who reached the goal")
    open_rate: float | None
    click_rate: float | None
    clicker_rate: float | None
    conversion_rate: float | None
    conversion_interval: IntervalOut | None = Field(description="Wilson 95 %")

    model_config = _example(FIGURES_EXAMPLE)


class BranchOut(FiguresOut):
    name: str
    weight: int
    share: float = Field(description="Percent of the participants the weights send here")
    is_control: bool
    is_winner: bool
    activities: list[str] = Field(description="The activities right under this branch")
    compared_rate: float | None = Field(description="The rate the comparison is on")
    compared_interval: IntervalOut | None
    comparison: ComparisonOut | None = Field(description="Against the control; null for it")

    model_config = _example(BRANCH_EXAMPLE)


class SplitResultOut(Schema):
    split: int
    name: str
    metric: Literal["conversions", "clickers"] = Field(
        description="What branches are compared on: conversions (with a goal) or clickers"
    )
    control: str
    winner: str | None
    winner_at: dt.datetime | None
    sent_to_winner: int = Field(description="Participants sent to the winner (not compared)")
    converted_before_split: int = Field(description="Left out: converted before the split")
    branches: list[BranchOut]

    model_config = _example(SPLIT_EXAMPLE)


class ActivityResultOut(FiguresOut):
    activity: int
    name: str
    kind: str
    branch: str | None

    model_config = _example(ACTIVITY_RESULT_EXAMPLE)


class GoalOut(Schema):
    goal_domain: list[Any]
    goal_window_days: int | None
    exit_on_goal: bool

    model_config = _example(GOAL_EXAMPLE)


class TestParticipantOut(Schema):
    participant: int
    record_id: int
    state: str
    branches: dict[str, str] = Field(description="Split name → branch")
    converted_at: dt.datetime | None

    model_config = _example(TEST_EXAMPLE)


RESULTS_EXAMPLE = {
    "campaign": 1,
    "goal": GOAL_EXAMPLE,
    "participants": 415,
    "conversions": 95,
    "conversion_rate": 0.2289,
    "conversion_interval": {"low": 0.1914, "high": 0.2714},
    "statistics": "Rates come with their 95 % Wilson score interval…",
    "splits": [SPLIT_EXAMPLE],
    "activities": [ACTIVITY_RESULT_EXAMPLE],
    "tests": [TEST_EXAMPLE],
}


class ResultsOut(Schema):
    campaign: int
    goal: GoalOut | None = Field(description="null: the campaign has no goal")
    participants: int = Field(description="Every participant ever enrolled (tests apart)")
    conversions: int
    conversion_rate: float | None
    conversion_interval: IntervalOut | None
    statistics: str = Field(description="How the figures below are computed")
    splits: list[SplitResultOut]
    activities: list[ActivityResultOut]
    tests: list[TestParticipantOut] = Field(description="Test participants (not counted)")

    model_config = _example(RESULTS_EXAMPLE)


class WinnerIn(Schema):
    split: Id | None = Field(None, description="The split activity; optional with only one")
    branch: Text(40) | None = Field(description="The winning branch; null withdraws the winner")  # type: ignore[valid-type]

    model_config = ConfigDict(json_schema_extra={"examples": [{"split": 7, "branch": "B"}]})


class WinnerOut(Schema):
    split: int
    name: str
    winner: str | None
    winner_at: dt.datetime | None

    model_config = _example(WINNER_EXAMPLE)


@router.get(
    "/{id}/results",
    response=with_errors({200: ResultsOut}),
    summary="Results: conversions, splits compared, per activity",
    description=STATISTICS,
)
def campaign_results(request: HttpRequest, id: Id):  # noqa: A002
    campaign = get_or_404(Campaign, id, "campaign")
    return {**results.campaign_results(campaign).as_dict(), "statistics": STATISTICS}


@router.post(
    "/{id}/declare-winner",
    response=with_errors({200: WinnerOut}),
    summary="Declare a split's winner",
    description="Every participant reaching the split from now on goes down the winning "
    "branch; those already assigned keep theirs. `branch: null` withdraws the winner.",
)
def declare_winner(request: HttpRequest, id: Id, payload: WinnerIn):  # noqa: A002
    campaign = get_or_404(Campaign, id, "campaign")
    candidates = Activity.objects.filter(campaign=campaign, kind=Activity.Kind.SPLIT)
    if payload.split is not None:
        split = candidates.filter(pk=payload.split).first()
        if split is None:
            raise ValidationError({"split": f"no split with id {payload.split} in this campaign"})
    else:
        found = list(candidates[:2])
        if len(found) != 1:
            raise ValidationError(
                {
                    "split": "name the split: the campaign has "
                    + ("none" if not found else "several")
                }
            )
        split = found[0]
    split = splits.declare_winner(split, payload.branch, current_user(request))
    return {
        "split": split.pk,
        "name": split.name,
        "winner": split.winner or None,
        "winner_at": split.winner_at,
    }
