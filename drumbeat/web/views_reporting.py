"""Reporting (docs/product.md#figures-and-reporting): participants, traces and the link tracker,
with filters, group-by tables, SVG charts and CSV export (through lib/csvsafe.py: no cell is
read as a formula). The group-by tables, charts and click counts come from the roll-ups
(automation/rollups.py) unless a filter needs the rows (a text search, a step or its event, a
date range); the lists page newest first in indexed order through at most 10,000 rows
(web/paging.py), so no view scans a campaign of ten million participants."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.db.models import BooleanField, Exists, OuterRef, Q
from django.db.models.expressions import RawSQL
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.dateparse import parse_date

from drumbeat.automation import metrics, rollups
from drumbeat.automation.models import Activity, Campaign, Participant, Trace
from drumbeat.automation.targets import get_target
from drumbeat.lib import csvsafe
from drumbeat.mailing.models import Link

from . import paging
from .charts import hbars
from .paging import CappedPaginator

PAGE_SIZE = 25


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _common(request: HttpRequest) -> dict:
    campaign_id = _int(request.GET.get("campaign"))
    campaign = Campaign.objects.filter(pk=campaign_id).first() if campaign_id else None
    activities = (
        Activity.objects.filter(campaign=campaign).order_by("delay_hours", "id") if campaign else []
    )
    return {
        "campaign": campaign,
        "campaign_id": campaign_id,
        "campaigns": Campaign.objects.order_by("name").only("id", "name"),
        "activities": activities,
        "activity_id": _int(request.GET.get("activity")),
        "include_tests": request.GET.get("tests") == "1",
    }


def record_names(participants: list[Participant]) -> dict[tuple[int, int], str]:
    """(campaign id, record id) -> display name, one query per target."""
    by_target: dict[str, set[int]] = defaultdict(set)
    for p in participants:
        by_target[p.campaign.target].add(p.record_id)
    names: dict[tuple[str, int], str] = {}
    for key, ids in by_target.items():
        target = get_target(key)
        for record in target.model._default_manager.filter(pk__in=ids):
            names[(key, record.pk)] = target.display_name(record)
    return {
        (p.campaign_id, p.record_id): names.get((p.campaign.target, p.record_id), "(deleted)")
        for p in participants
    }


def _id_range(campaign) -> tuple[int, int] | None:
    """The lowest and highest id of the campaign's participants, each the first entry of its
    (campaign, id) index. Not MIN / MAX, nor an equality on the campaign: PostgreSQL then
    reads the order from the table's id index and walks past every newer campaign's rows
    (2 s at 10,000,000 of each); a range on the campaign keeps both columns in the order."""
    ids = Participant.objects.filter(
        campaign_id__gte=campaign.pk, campaign_id__lte=campaign.pk
    ).values_list("id", flat=True)
    low = ids.order_by("campaign_id", "id").first()
    if low is None:
        return None
    return low, ids.order_by("-campaign_id", "-id").first()


def _participants(request: HttpRequest, common: dict):
    qs = Participant.objects.select_related("campaign")
    if common["campaign"]:
        qs = qs.filter(campaign=common["campaign"])
        # The campaign's id range (two probes of its (campaign, id) index): a filter the
        # planner answers by walking the table's id index down then starts among the
        # campaign's participants, not past every newer campaign's.
        if bounds := _id_range(common["campaign"]):
            qs = qs.filter(id__gte=bounds[0], id__lte=bounds[1])
    if not common["include_tests"]:
        qs = qs.filter(is_test=False)
    state = request.GET.get("state", "")
    if state in Participant.State.values:
        qs = qs.filter(state=state)
    activity_id = common["activity_id"]
    if activity_id:
        traces = Trace.objects.filter(participant=OuterRef("pk"), activity_id=activity_id)
        trace_state = request.GET.get("trace_state", "")
        if trace_state in Trace.State.values:
            traces = traces.filter(state=trace_state)
        qs = qs.filter(Exists(traces))
        event = request.GET.get("event", "")
        activity = Activity.objects.filter(pk=activity_id).first()
        if event in metrics.MESSAGE_FIGURES and activity:
            concerned = metrics.participants_concerned(activity, event, common["include_tests"])
            qs = qs.filter(pk__in=concerned.values("pk"))
    text = request.GET.get("q", "").strip()
    if text:
        qs = qs.filter(unique_key__icontains=text)
    # Newest first by id (enrolment order), from the index on (campaign, id).
    return qs.order_by("-id")


def _participant_pivot(
    request: HttpRequest, common: dict, qs
) -> tuple[dict[int, dict], int | None, list[int] | None]:
    """Campaign id → {name, running, completed, removed} for the report's filters, the exact
    number of participants listed (None: more than paging.CAP), and their ids newest first
    when they were read. From the roll-ups whatever the size, unless a step or text filter
    needs the rows: those are read once, up to paging.CAP + 1, and grouped (and paged from
    their ids) only when they are no more."""
    pivot: dict[int, dict] = {}
    if common["activity_id"] or request.GET.get("q", "").strip():
        if _step_matches_more_than_cap(request, common):
            return pivot, None, None  # the roll-up knows: reading them would be for nothing
        found = list(qs.order_by().values_list("campaign_id", "state", "id")[: paging.CAP + 1])
        if len(found) > paging.CAP:
            return pivot, None, None  # too many to group per view: the list says "more than"
        names = dict(
            Campaign.objects.filter(pk__in={c for c, _, _ in found}).values_list("id", "name")
        )
        for campaign_id, state, _ in found:
            entry = pivot.setdefault(
                campaign_id,
                {"name": names.get(campaign_id, ""), "running": 0, "completed": 0, "removed": 0},
            )
            entry[state] += 1
        return pivot, len(found), newest_first(found)
    campaign = common["campaign"]
    counts = rollups.participant_counts(
        [campaign.pk] if campaign else None, include_tests=common["include_tests"]
    )
    names = dict(Campaign.objects.filter(pk__in=list(counts)).values_list("id", "name"))
    state = request.GET.get("state", "")
    for campaign_id, by_key in counts.items():
        if campaign_id not in names:
            continue  # deleted since (its roll-up rows go at the next compaction)
        entry = {"name": names[campaign_id], "running": 0, "completed": 0, "removed": 0}
        for (row_state, _, _), n in by_key.items():
            if row_state in entry and (not state or state == row_state):
                entry[row_state] += n
        if any(entry[s] for s in ("running", "completed", "removed")):
            pivot[campaign_id] = entry
    return pivot, sum(e["running"] + e["completed"] + e["removed"] for e in pivot.values()), None


def _step_matches_more_than_cap(request: HttpRequest, common: dict) -> bool:
    """A step filter alone (no text, state or event filter besides) matches as many
    participants as the step has traces (in the state asked), one per participant: the trace
    roll-up says whether they are more than paging.CAP without reading them. Read to group
    them, a step half the campaign went through could be planned as a hash of all its traces
    (seconds at ten million)."""
    activity_id = common["activity_id"]
    get = request.GET
    if (
        get.get("q", "").strip()
        or get.get("state", "") in Participant.State.values
        or get.get("event", "") in metrics.MESSAGE_FIGURES
    ):
        return False
    activity = Activity.objects.filter(pk=activity_id).values_list("campaign_id").first()
    if activity is None or (common["campaign"] and common["campaign"].pk != activity[0]):
        return False
    counts = rollups.trace_counts([activity_id], include_tests=common["include_tests"])
    by_state = counts.get(activity_id, {})
    trace_state = get.get("trace_state", "")
    if trace_state in Trace.State.values:
        return by_state.get(trace_state, 0) > paging.CAP
    return sum(by_state.values()) > paging.CAP


def _step_page_ids(request: HttpRequest, common: dict) -> Callable[[int, int], list[int]] | None:
    """PostgreSQL, a step filter alone matching more than paging.CAP participants of one
    campaign: a page's ids walking the campaign's participants newest first and probing each
    for its trace at the step (an OFFSET 0 keeps the probe a per-row subplan). Planned as a
    join instead, the traces were walked in participant order from the table's newest, past
    every newer campaign's (1 s at 1,000,000 + 1,000,000). A match is then one in at most
    N / 10,000 participants: a first page probes a few of them; deep pages of rare matches
    probe many."""
    campaign, activity_id = common["campaign"], common["activity_id"]
    if connection.vendor != "postgresql" or campaign is None or not activity_id:
        return None
    if not _step_matches_more_than_cap(request, common):
        return None
    trace_state = request.GET.get("trace_state", "")
    where = "u.participant_id = automation_participant.id AND u.activity_id = %s"
    params: list = [activity_id]
    if trace_state in Trace.State.values:
        where += " AND u.state = %s"
        params.append(trace_state)
    probe = RawSQL(
        f"EXISTS (SELECT 1 FROM automation_trace u WHERE {where} OFFSET 0)",
        params,
        output_field=BooleanField(),
    )
    base = Participant.objects.filter(campaign=campaign)
    if not common["include_tests"]:
        base = base.filter(is_test=False)
    base = base.alias(at_step=probe).filter(at_step=True).order_by("-id")

    def page_ids(bottom: int, top: int) -> list[int]:
        return list(base.values_list("id", flat=True)[bottom:top])

    return page_ids


def newest_first(found: list[tuple]) -> list[int]:
    """The ids (last column) of rows read for a pivot, in the lists' order (newest first): the
    pages are then slices of them. Paged by the database instead, a filter matching few of
    millions of rows may be planned as a walk down the (campaign, id) index hoping to meet
    a page's rows early, and read them all."""
    return sorted((row[-1] for row in found), reverse=True)


@login_required
def participant_report(request: HttpRequest) -> HttpResponse:
    common = _common(request)
    qs = _participants(request, common)
    if request.GET.get("format") == "csv":
        return _csv_participants(qs)
    pivot, total, ids = _participant_pivot(request, common, qs)
    rows = sorted(pivot.items(), key=lambda item: item[1]["name"])
    for _, entry in rows:
        entry["total"] = entry["running"] + entry["completed"] + entry["removed"]
    chart = hbars([(e["name"], e["total"]) for _, e in rows[:15]], "Participants per campaign")
    paginator = CappedPaginator(
        qs, PAGE_SIZE, total, more=total is None, ids=ids, page_ids=_step_page_ids(request, common)
    )
    page = paginator.get_page(request.GET.get("page"))
    names = record_names(list(page.object_list))
    for p in page.object_list:
        p.record_name = names[(p.campaign_id, p.record_id)]
    context = {
        **common,
        "page": page,
        "paginator": page.paginator,
        "pivot": rows,
        "chart": chart,
        "state": request.GET.get("state", ""),
        "states": Participant.State.choices,
        "q": request.GET.get("q", ""),
        "event": request.GET.get("event", ""),
        "trace_state": request.GET.get("trace_state", ""),
    }
    return render(request, "web/reporting/participants.html", context)


def _csv_response(filename: str, header: list[str], rows) -> StreamingHttpResponse:
    class Echo:
        def write(self, value):
            return value

    writer = csvsafe.writer(Echo())

    def stream():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _csv_participants(qs) -> StreamingHttpResponse:
    def rows():
        chunk = 2000
        last = None
        base = qs.order_by("-id")
        while True:
            batch = list((base.filter(id__lt=last) if last else base)[:chunk])
            if not batch:
                return
            names = record_names(batch)
            for p in batch:
                yield [
                    p.pk,
                    p.campaign.name,
                    p.record_id,
                    names[(p.campaign_id, p.record_id)],
                    p.unique_key,
                    p.state,
                    "yes" if p.is_test else "no",
                    p.enrolled_at.isoformat(),
                    p.completed_at.isoformat() if p.completed_at else "",
                ]
            last = batch[-1].pk

    header = ["id", "campaign", "record_id", "record", "unique_key", "state", "test"]
    return _csv_response("participants.csv", [*header, "enrolled_at", "completed_at"], rows())


def _traces(request: HttpRequest, common: dict):
    qs = Trace.objects.select_related("activity", "activity__campaign", "participant__campaign")
    if common["campaign"]:
        qs = qs.filter(activity__campaign=common["campaign"])
    if common["activity_id"]:
        qs = qs.filter(activity_id=common["activity_id"])
    if not common["include_tests"]:
        qs = qs.filter(is_test=False)
    state = request.GET.get("state", "")
    if state in Trace.State.values:
        qs = qs.filter(state=state)
    since = parse_date(request.GET.get("since", "") or "")
    until = parse_date(request.GET.get("until", "") or "")
    if since:
        qs = qs.filter(Q(executed_at__date__gte=since) | Q(scheduled_at__date__gte=since))
    if until:
        qs = qs.filter(Q(executed_at__date__lte=until) | Q(scheduled_at__date__lte=until))
    return qs.order_by("-id"), since, until


def _trace_pivot(
    request: HttpRequest, common: dict, qs, dated: bool
) -> tuple[dict, int | None, list[int] | None]:
    """Activity id → {name, campaign, counts by state} for the report's filters, the exact
    number of traces listed (None: more than paging.CAP), and their ids newest first when
    they were read. From the roll-ups unless a date range needs the rows: those are read
    once, up to paging.CAP + 1, and grouped (and paged from their ids) only when they are
    no more."""
    states = [s for s, _ in Trace.State.choices]
    pivot: dict[int, dict] = {}
    if dated:
        found = list(qs.order_by().values_list("activity_id", "state", "id")[: paging.CAP + 1])
        if len(found) > paging.CAP:
            return pivot, None, None  # too many to group per view: the list says "more than"
        names = {
            pk: (name, campaign)
            for pk, name, campaign in Activity.objects.filter(
                pk__in={a for a, _, _ in found}
            ).values_list("id", "name", "campaign__name")
        }
        for activity_id, state, _ in found:
            name, campaign = names.get(activity_id, ("", ""))
            entry = pivot.setdefault(
                activity_id,
                {"name": name, "campaign": campaign, "counts": dict.fromkeys(states, 0)},
            )
            entry["counts"][state] += 1
        return pivot, len(found), newest_first(found)
    activities = Activity.objects.all()
    if common["campaign"]:
        activities = activities.filter(campaign=common["campaign"])
    if common["activity_id"]:
        activities = activities.filter(pk=common["activity_id"])
    names = {
        pk: (name, campaign)
        for pk, name, campaign in activities.values_list("id", "name", "campaign__name")
    }
    state = request.GET.get("state", "")
    counts = rollups.trace_counts(list(names), include_tests=common["include_tests"])
    for activity_id, by_state in counts.items():
        cells = {s: n for s, n in by_state.items() if s in states and (not state or s == state)}
        if any(cells.values()):
            name, campaign = names[activity_id]
            entry = {"name": name, "campaign": campaign, "counts": dict.fromkeys(states, 0)}
            entry["counts"].update(cells)
            pivot[activity_id] = entry
    return pivot, sum(sum(e["counts"].values()) for e in pivot.values()), None


def _campaign_trace_ids(qs, common: dict) -> Callable[[int, int], list[int]] | None:
    """PostgreSQL, one campaign: a page's trace ids newest first as the union of each of its
    activities' newest (index on activity and id), so that other campaigns' traces are never
    read. Walking the whole table's id index down, the planner hopes to meet the campaign's
    traces early, and reads every newer trace of the others first (seconds at millions).
    SQLite's index on the activity holds the row id already and is used as such."""
    campaign = common["campaign"]
    if connection.vendor != "postgresql" or campaign is None or common["activity_id"]:
        return None
    activities = list(Activity.objects.filter(campaign=campaign).values_list("id", flat=True))

    def page_ids(bottom: int, top: int) -> list[int]:
        if not activities:
            return []
        if len(activities) == 1:  # one activity: its newest, no union to order
            newest = qs.filter(activity_id=activities[0]).order_by("-id")
            return list(newest.values_list("id", flat=True)[bottom:top])
        parts = [
            qs.filter(activity_id=pk).order_by("-id").values_list("id", flat=True)[:top]
            for pk in activities
        ]
        return list(parts[0].union(*parts[1:], all=True).order_by("-id")[bottom:top])

    return page_ids


@login_required
def trace_report(request: HttpRequest) -> HttpResponse:
    common = _common(request)
    qs, since, until = _traces(request, common)
    if request.GET.get("format") == "csv":
        return _csv_response(
            "traces.csv",
            ["id", "campaign", "activity", "participant", "record_id", "state", "scheduled_at"]
            + ["executed_at", "reason", "test"],
            (
                [
                    t.pk,
                    t.activity.campaign.name,
                    t.activity.name,
                    t.participant_id,
                    t.participant.record_id,
                    t.state,
                    t.scheduled_at.isoformat() if t.scheduled_at else "",
                    t.executed_at.isoformat() if t.executed_at else "",
                    t.reason,
                    "yes" if t.is_test else "no",
                ]
                for t in qs.iterator(chunk_size=2000)
            ),
        )
    states = [s for s, _ in Trace.State.choices]
    pivot, total, ids = _trace_pivot(request, common, qs, since or until)
    rows = sorted(pivot.values(), key=lambda e: (e["campaign"], e["name"]))
    pressure = metrics.pressure_counts(list(pivot), since, until)  # contact pressure
    for activity_id, entry in pivot.items():
        entry["cells"] = [entry["counts"][s] for s in states]
        entry["cells"] += list(pressure.get(activity_id, (0, 0)))
    total_by_state = dict.fromkeys(states, 0)
    for entry in pivot.values():
        for s, n in entry["counts"].items():
            total_by_state[s] += n
    chart = hbars(
        [(label, total_by_state.get(s, 0)) for s, label in Trace.State.choices],
        "Traces by state",
    )
    paginator = CappedPaginator(
        qs, PAGE_SIZE, total, more=total is None, ids=ids, page_ids=_campaign_trace_ids(qs, common)
    )
    page = paginator.get_page(request.GET.get("page"))
    names = record_names([t.participant for t in page.object_list])
    for t in page.object_list:
        t.record_name = names[(t.participant.campaign_id, t.participant.record_id)]
    context = {
        **common,
        "page": page,
        "paginator": page.paginator,
        "pivot": rows,
        "state_labels": [label for _, label in Trace.State.choices] + ["Deferred", "Skipped"],
        "chart": chart,
        "state": request.GET.get("state", ""),
        "states": Trace.State.choices,
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
    }
    return render(request, "web/reporting/traces.html", context)


@login_required
def link_report(request: HttpRequest) -> HttpResponse:
    common = _common(request)
    qs = Link.objects.all()
    if common["campaign"]:
        qs = qs.filter(campaign_id=common["campaign"].pk)
    if common["activity_id"]:
        qs = qs.filter(activity_id=common["activity_id"])
    links = list(qs)
    clicks = rollups.click_counts([x.pk for x in links], include_tests=common["include_tests"])
    for link in links:
        link.click_count, link.human_clicks = clicks.get(link.pk, (0, 0))
    links = sorted(links, key=lambda x: (-x.click_count, x.url))[:500]
    campaigns = dict(Campaign.objects.values_list("id", "name"))
    activities = dict(Activity.objects.values_list("id", "name"))
    for link in links:
        link.campaign_name = campaigns.get(link.campaign_id, "")
        link.activity_name = activities.get(link.activity_id, "")
    if request.GET.get("format") == "csv":
        return _csv_response(
            "links.csv",
            ["url", "title", "campaign", "activity", "clicks", "human_clicks"],
            (
                [x.url, x.title, x.campaign_name, x.activity_name, x.click_count, x.human_clicks]
                for x in links
            ),
        )
    chart = hbars(
        [(link.title or link.url, link.click_count) for link in links[:12] if link.click_count],
        "Clicks per link",
    )
    since = dt.date.today() - dt.timedelta(days=14)
    context = {**common, "links": links, "chart": chart, "since": since}
    return render(request, "web/reporting/links.html", context)
