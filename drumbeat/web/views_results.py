"""Experiments in the UI: the campaign's Results tab (conversions, splits compared with their
statistics, per activity, test participants), the goal dialog of the workflow editor and the
declare-winner action. Figures come from automation/results.py."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from drumbeat.automation import proportions, results, services, splits
from drumbeat.automation.domains import DomainError, parse_domain
from drumbeat.automation.models import Activity, Campaign
from drumbeat.automation.targets import get_target, model_fields

from .access import get_campaign_for_user
from .charts import interval_bars
from .filter_builder import OPERATOR_LABELS
from .forms import apply_service_errors
from .views_campaigns import _back_to_workflow, _campaign_context

VERDICT_CLASSES = {
    proportions.BETTER: "ok",
    proportions.WORSE: "danger",
    proportions.NO_DIFFERENCE: "info",
    proportions.NOT_ENOUGH: "muted",
}
METRIC_LABELS = {
    results.CONVERSIONS: "conversions to the goal",
    results.CLICKERS: "participants who clicked (the campaign has no goal)",
}


# --- the goal --------------------------------------------------------------------------------


class GoalForm(forms.Form):
    goal_domain = forms.CharField(required=False, label="Goal")
    goal_window_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=3650,
        label="Counts within (days after enrolment)",
        help_text="Empty: whenever it happens.",
    )
    exit_on_goal = forms.BooleanField(
        required=False, label="A participant who reaches the goal leaves the workflow"
    )

    def clean_goal_domain(self):
        try:
            return parse_domain(self.cleaned_data.get("goal_domain") or "[]")
        except DomainError as exc:
            raise ValidationError(str(exc))


@login_required
def goal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The goal dialog: GET shows it, POST saves (an empty filter removes the goal)."""
    campaign = get_campaign_for_user(request, pk)
    initial = {
        "goal_domain": json.dumps(campaign.goal_domain),
        "goal_window_days": campaign.goal_window_days,
        "exit_on_goal": campaign.exit_on_goal,
    }
    form = GoalForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_campaign(campaign, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
            campaign.refresh_from_db()
        else:
            text = "Goal saved." if campaign.has_goal else "Goal removed."
            messages.success(request, text)
            return _back_to_workflow(request, campaign)
    context = {
        "campaign": campaign,
        "form": form,
        "domain_value": form["goal_domain"].value() or "[]",
    }
    return render(request, "web/campaigns/_goal_dialog.html", context)


def describe_domain(target_key: str, domain: list) -> str:
    """A filter in words, e.g. 'Tags › Name is "Customer" and Country is "BE"'."""

    def field_label(path: str) -> str:
        labels, model = [], target_key
        for part in path.split("."):
            info = model_fields(model).get(part) if model else None
            labels.append(info.label if info else part)
            model = info.related if info else None
        return " › ".join(labels)

    def condition(item: list) -> str:
        path, operator, value = item
        shown = "not set" if value in (False, None) and operator in ("=", "!=") else value
        if isinstance(shown, list):
            shown = ", ".join(json.dumps(v) if isinstance(v, str) else str(v) for v in shown)
        elif isinstance(shown, str) and shown != "not set":
            shown = json.dumps(shown, ensure_ascii=False)
        elif isinstance(shown, bool):
            shown = "yes" if shown else "no"
        return f"{field_label(str(path))} {OPERATOR_LABELS.get(operator, operator)} {shown}"

    def node(items: list[Any], at: int) -> tuple[str, int]:
        item = items[at]
        if item in ("&", "|"):
            left, after = node(items, at + 1)
            right, end = node(items, after)
            joiner = " and " if item == "&" else " or "
            return f"({left}{joiner}{right})", end
        if item == "!":
            inner, end = node(items, at + 1)
            return f"not {inner}", end
        if isinstance(item, list) and len(item) == 3:
            return condition(item), at + 1
        return str(item), at + 1

    parts, at = [], 0
    try:
        while at < len(domain):
            text, at = node(domain, at)
            parts.append(text)
    except (IndexError, TypeError, ValueError):
        return json.dumps(domain)
    return " and ".join(parts)


# --- results ---------------------------------------------------------------------------------


def _percent(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f} %"


def _interval(interval: proportions.Interval | None) -> str:
    return "" if interval is None else f"{100 * interval.low:.1f}–{100 * interval.high:.1f} %"


def _difference(comparison: proportions.Comparison | None) -> str:
    if comparison is None or comparison.difference is None:
        return ""
    text = f"{100 * comparison.difference:+.1f} pts"
    if comparison.interval is not None:
        low, high = comparison.interval.low, comparison.interval.high
        text += f" ({100 * low:+.1f} to {100 * high:+.1f})"
    return text


def _verdict(comparison: proportions.Comparison | None, control: str) -> dict | None:
    if comparison is None:
        return None
    label = {
        proportions.BETTER: f"Better than {control}",
        proportions.WORSE: f"Worse than {control}",
        proportions.NO_DIFFERENCE: "No significant difference",
        proportions.NOT_ENOUGH: "Not enough data yet",
    }[comparison.verdict]
    p_value = "" if comparison.p_value is None else f"p = {comparison.p_value:.3g}"
    return {
        "label": label,
        "css": VERDICT_CLASSES[comparison.verdict],
        "p": p_value,
        "test": comparison.test,
        "alpha": f"{100 * comparison.alpha:.3g} %",
        "verdict": comparison.verdict,
    }


def split_view(split: results.SplitResult) -> dict:
    """What the Results tab shows of one split: the chart, the rows, the notes."""
    rows = []
    for b in split.branches:
        f = b.figures
        interval = b.compared_interval
        rows.append(
            {
                "name": b.name,
                "share": f"{b.share:g} %",
                "is_control": b.is_control,
                "is_winner": b.is_winner,
                "activities": b.activities,
                "participants": f.participants,
                "sends": f.sends,
                "opens": _percent(f.open_rate) if f.sends else "–",
                "clicks": _percent(f.click_rate) if f.sends else "–",
                "successes": b.compared[0],
                "rate": _percent(b.compared_rate),
                "interval": _interval(interval),
                "difference": _difference(b.comparison),
                "verdict": _verdict(b.comparison, split.control),
                "machine_opens": f.machine_opens,
            }
        )
    chart = interval_bars(
        [
            (
                b.name,
                b.compared_rate,
                b.compared_interval.low if b.compared_interval else None,
                b.compared_interval.high if b.compared_interval else None,
                "s-muted" if b.is_control else "s-brand",
            )
            for b in split.branches
        ],
        title=f"{split.split.name}: {METRIC_LABELS[split.metric]} per branch, with 95 % intervals",
    )
    tests = split.test_names
    return {
        "result": split,
        "split": split.split,
        "rows": rows,
        "chart": chart,
        "metric": METRIC_LABELS[split.metric],
        "success_label": "Conversions" if split.metric == results.CONVERSIONS else "Clicked",
        "control": split.control,
        "tests": " and ".join(tests),
        "comparisons": max(0, len(split.branches) - 1),
        "alpha": f"{100 * proportions.ALPHA / max(1, len(split.branches) - 1):.3g} %",
        "machine_opens": sum(r["machine_opens"] for r in rows),
    }


@login_required
def campaign_results(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_campaign_for_user(request, pk)
    found = results.campaign_results(campaign)
    target = get_target(campaign.target)
    records = target.model._default_manager.in_bulk([t.participant.record_id for t in found.tests])
    tests = [
        {
            "participant": t.participant,
            "name": target.display_name(records[t.participant.record_id])
            if t.participant.record_id in records
            else f"#{t.participant.record_id}",
            "branches": sorted(t.branches.items()),
            "converted_at": t.converted_at,
        }
        for t in found.tests
    ]
    context = _campaign_context(request, campaign)
    context.update(
        {
            "tab": "results",
            "results": found,
            "overall_rate": _percent(found.figures.conversion_rate),
            "overall_interval": _interval(found.figures.conversion_interval),
            "goal_text": describe_domain(campaign.target, campaign.goal_domain)
            if campaign.has_goal
            else "",
            "splits": [split_view(s) for s in found.splits],
            "activities": [
                {
                    "activity": a.activity,
                    "depth": a.depth,
                    "figures": a.figures,
                    "opens": _percent(a.figures.open_rate) if a.figures.sends else "–",
                    "clicks": _percent(a.figures.click_rate) if a.figures.sends else "–",
                    "rate": _percent(a.figures.conversion_rate),
                    "interval": _interval(a.figures.conversion_interval),
                }
                for a in found.activities
            ],
            "tests": tests,
            "min_participants": proportions.MIN_PARTICIPANTS,
        }
    )
    return render(request, "web/campaigns/results.html", context)


@require_POST
@login_required
def declare_winner(request: HttpRequest, pk: int, split_id: int) -> HttpResponse:
    """Declare (or, with an empty branch, withdraw) the winner of a split."""
    campaign: Campaign = get_campaign_for_user(request, pk)
    split = get_object_or_404(Activity, pk=split_id, campaign=campaign, kind=Activity.Kind.SPLIT)
    branch = request.POST.get("branch", "")
    try:
        splits.declare_winner(split, branch, request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if branch:
            messages.success(
                request,
                f"{branch} is the winner of “{split.name}”: new participants all go down it.",
            )
        else:
            messages.success(request, f"“{split.name}” splits new participants by weight again.")
    return redirect(reverse("campaign_results", args=[campaign.pk]))
