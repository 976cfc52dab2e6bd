"""Split activities: 2–5 named, weighted branches; each participant goes down one, once.

The branch of a participant is drawn from a hash of (campaign, split, participant): SHA-256 of
"campaign:split:participant" read as a number in [0, 1) and placed on the cumulative weights.
So the draw is random across participants but always the same for one participant — a batch
run again after a crash or a retry draws the same branch. The draw is kept in
`SplitAssignment` (one row per participant and split, unique): `assign_branches` writes a
whole batch with ONE `INSERT … ON CONFLICT DO NOTHING`, so a participant already assigned keeps
its branch whatever happens (a declared winner, a test participant sent down a chosen branch).

A participant who crosses several splits has one assignment per split. A branch without
activities is a holdout: its participants receive nothing and are the control group (the first
such branch, else the first branch, is the control of the results).

Declaring a winner (`declare_winner`) sends every participant who reaches the split from then
on down the winner; they are assigned with `randomized=False` and left out of comparisons.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save

from drumbeat.lib import clock

from . import rollup_sql
from .models import Activity, CampaignLog, SplitAssignment, SplitMember, Trace
from .rollups import assignment_counts

MIN_BRANCHES, MAX_BRANCHES = 2, 5
NAME_LENGTH = 40


def clean_branches(branches: Any) -> list[dict[str, Any]]:
    """`branches` as [{"name", "weight"}] with 2–5 distinct non-empty names and whole weights
    of at least 1 (relative: 45/45/10 and 9/9/2 split alike); ValidationError otherwise."""
    if not isinstance(branches, list | tuple):
        raise ValidationError({"branches": "A split needs a list of branches."})
    if not MIN_BRANCHES <= len(branches) <= MAX_BRANCHES:
        raise ValidationError(
            {"branches": f"A split has {MIN_BRANCHES} to {MAX_BRANCHES} branches."}
        )
    cleaned, seen = [], set()
    for number, branch in enumerate(branches, start=1):
        if not isinstance(branch, dict):
            raise ValidationError({"branches": f"Branch {number}: give a name and a weight."})
        name = str(branch.get("name") or "").strip()
        if not name:
            raise ValidationError({"branches": f"Branch {number} needs a name."})
        if len(name) > NAME_LENGTH:
            raise ValidationError(
                {"branches": f"Branch {number}: at most {NAME_LENGTH} characters."}
            )
        if name.lower() in seen:
            raise ValidationError({"branches": f"Two branches are called {name!r}."})
        seen.add(name.lower())
        weight = branch.get("weight")
        if isinstance(weight, float) and weight.is_integer():
            weight = int(weight)
        if isinstance(weight, str) and weight.strip().isdigit():
            weight = int(weight.strip())
        if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 1000:
            raise ValidationError(
                {"branches": f"Branch {name!r}: the weight is a whole number from 1 to 1000."}
            )
        cleaned.append({"name": name, "weight": weight})
    return cleaned


def shares(split: Activity) -> dict[str, float]:
    """Each branch's share of the participants, in percent (weights are relative)."""
    total = sum(int(b["weight"]) for b in split.branches) or 1
    return {b["name"]: round(100.0 * int(b["weight"]) / total, 1) for b in split.branches}


def draw(campaign_id: int, split_id: int, participant_id: int, branches: list[dict]) -> str:
    """The branch of a participant: random by weight, the same on every call."""
    digest = hashlib.sha256(f"{campaign_id}:{split_id}:{participant_id}".encode()).digest()
    total = sum(int(b["weight"]) for b in branches)
    point = int.from_bytes(digest[:8], "big") * total / 2**64  # uniform in [0, total)
    reached = 0
    for branch in branches:
        reached += int(branch["weight"])
        if point < reached:
            return str(branch["name"])
    return str(branches[-1]["name"])


def assign_branches(split: Activity, participant_ids: Iterable[int], now: datetime) -> int:
    """Assign the participants who have no branch at `split` yet: one INSERT for the batch.
    Returns how many were assigned now."""
    ids = sorted({int(pk) for pk in participant_ids})
    if not ids:
        return 0
    if split.winner:
        rows = [[pk, split.winner, False] for pk in ids]
    else:
        branches = split.branches
        rows = [[pk, draw(split.campaign_id, split.pk, pk, branches), True] for pk in ids]
    return _insert(split.pk, rows, now)


def _insert(split_id: int, rows: list[list], now: datetime) -> int:
    """INSERT … SELECT from one JSON parameter of [participant, branch, randomized] rows;
    rows whose participant is already assigned at this split are skipped."""
    table = connection.ops.quote_name(SplitAssignment._meta.db_table)
    at = connection.ops.adapt_datetimefield_value(now)
    if connection.vendor == "postgresql":
        select = (
            "SELECT (x->>0)::bigint, %s, x->>1, (x->>2)::boolean, %s"
            " FROM jsonb_array_elements(%s::jsonb) AS x"
        )
    else:
        select = (
            "SELECT json_extract(value, '$[0]'), %s, json_extract(value, '$[1]'),"
            " json_extract(value, '$[2]'), %s FROM json_each(%s)"
        )
    # WHERE true: SQLite cannot otherwise tell the upsert's ON from a join's.
    sql = (
        f"INSERT INTO {table} (participant_id, split_id, branch, randomized, assigned_at)"
        f" {select} WHERE true ON CONFLICT (participant_id, split_id) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [split_id, at, json.dumps(rows)])
        return cursor.rowcount


def branch_activities(split: Activity) -> dict[str, list[Activity]]:
    """The activities directly under each branch of `split`, in branch order."""
    found: dict[str, list[Activity]] = {name: [] for name in split.branch_names}
    for child in split.children.order_by("delay_hours", "id"):
        found.setdefault(child.branch, []).append(child)
    return found


def control_branch(split: Activity, children: dict[str, list] | None = None) -> str:
    """The control group: the first branch without activities (a holdout), else the first."""
    children = branch_activities(split) if children is None else children
    for name in split.branch_names:
        if not children.get(name):
            return name
    return split.branch_names[0] if split.branches else ""


def check_branch_changes(split: Activity, names: list[str]) -> None:
    """Refuse a change of `split`'s branches that would strand its children or assignments."""
    if split.pk is None:
        return
    kept = set(names)
    for child in split.children.all():
        if not child.branch:
            raise ValidationError(
                {
                    "kind": f"'{child.name}' comes after '{split.name}' on no branch: a split's "
                    "activities each name a branch."
                }
            )
        if child.branch not in kept:
            raise ValidationError(
                {
                    "branches": f"Branch {child.branch!r} still has the activity "
                    f"'{child.name}': move or delete it first."
                }
            )
    assigned = (
        SplitAssignment.objects.filter(split_id=split.pk)
        .exclude(branch__in=kept)
        .values_list("branch", flat=True)
        .first()
    )
    if assigned is not None:
        raise ValidationError(
            {"branches": f"Participants were sent down branch {assigned!r}: it cannot go."}
        )
    if split.winner and split.winner not in kept:
        raise ValidationError({"branches": f"{split.winner!r} is the declared winner."})


def declare_winner(split: Activity, branch: str | None, user: Any = None) -> Activity:
    """Send every participant reaching `split` from now on down `branch` (existing
    assignments are kept); an empty `branch` withdraws the winner."""
    from .services import log_action

    if not split.is_split:
        raise ValidationError({"split": f"'{split.name}' is not a split."})
    branch = (branch or "").strip()
    if branch and branch not in split.branch_names:
        raise ValidationError(
            {
                "branch": f"'{split.name}' has no branch {branch!r}; choose one of "
                f"{', '.join(split.branch_names)}."
            }
        )
    with transaction.atomic():
        split.winner = branch
        split.winner_at = clock.now() if branch else None
        split.save(update_fields=["winner", "winner_at", "updated_at"])
        detail = f"{split.name}: {branch}" if branch else f"{split.name}: winner withdrawn"
        log_action(split.campaign, user, CampaignLog.Action.DECLARE_WINNER, detail=detail)
    return split


def choose_test_branch(trace: Trace, branch: str) -> bool:
    """Send a test participant down `branch` at the split of `trace` (its next run keeps it);
    False when it already had a branch there (kept)."""
    split = trace.activity
    if not split.is_split:
        raise ValidationError({"branch": f"'{split.name}' is not a split."})
    if not trace.is_test:
        raise ValidationError("Only a test participant can be sent down a chosen branch.")
    if branch not in split.branch_names:
        raise ValidationError({"branch": f"'{split.name}' has no branch {branch!r}."})
    return _insert(split.pk, [[trace.participant_id, branch, False]], clock.now()) > 0


def assignments_of(participant_ids: Iterable[int]) -> dict[int, dict[int, str]]:
    """{participant id: {split id: branch}} for the given participants (one query)."""
    found: dict[int, dict[int, str]] = {}
    for pid, split_id, branch in SplitAssignment.objects.filter(
        participant_id__in=list(participant_ids)
    ).values_list("participant_id", "split_id", "branch"):
        found.setdefault(pid, {})[split_id] = branch
    return found


def branch_counts(campaign) -> dict[int, dict[str, int]]:
    """{split id: {branch: participants sent down it}} of a campaign, tests left out (from
    the roll-up of the assignments: a few rows per branch whatever the campaign's size)."""
    ids = list(campaign.activities.filter(kind=Activity.Kind.SPLIT).values_list("pk", flat=True))
    found: dict[int, dict[str, int]] = {}
    for split_id, counts in assignment_counts(ids).items():
        for (branch, _, _), sums in counts.items():
            per_branch = found.setdefault(split_id, {})
            per_branch[branch] = per_branch.get(branch, 0) + sums["n"]
    return found


def refresh_members(campaign_id: int) -> None:
    """Bring `SplitMember` in line with the campaign's activities (two queries when nothing
    changed). When an activity that has traces comes under a split or leaves one, the
    counters of the splits concerned are counted again from their traces (`recount`)."""
    parents = {
        pk: (parent_id, kind == Activity.Kind.SPLIT)
        for pk, parent_id, kind in Activity.objects.filter(campaign_id=campaign_id).values_list(
            "pk", "parent_id", "kind"
        )
    }
    wanted = set()
    for pk in parents:
        parent_id = parents[pk][0]
        while parent_id is not None and parent_id in parents:
            if parents[parent_id][1]:
                wanted.add((parent_id, pk))
            parent_id = parents[parent_id][0]
    existing = set(
        SplitMember.objects.filter(campaign_id=campaign_id).values_list("split_id", "activity_id")
    )
    if wanted == existing:
        return
    gone, new = existing - wanted, wanted - existing
    if gone:
        stale = Q()
        for split_id, activity_id in gone:
            stale |= Q(split_id=split_id, activity_id=activity_id)
        SplitMember.objects.filter(stale, campaign_id=campaign_id).delete()
    SplitMember.objects.bulk_create(
        SplitMember(campaign_id=campaign_id, split_id=split_id, activity_id=activity_id)
        for split_id, activity_id in new
    )
    moved = {activity_id for _, activity_id in gone | new}
    if Trace.objects.filter(activity_id__in=moved).exists():
        recount({split_id for split_id, _ in gone | new})


def recount(split_ids: Iterable[int]) -> None:
    """Count the assignment counters of these splits again from the traces and messages under
    them (the triggers keep them otherwise); the roll-up follows through the assignments' own
    trigger."""
    ids = sorted({int(pk) for pk in split_ids})
    if not ids:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in rollup_sql.split_recount(", ".join(["%s"] * len(ids))):
            cursor.execute(statement, ids)


def _activity_changed(sender, instance: Activity, **kwargs) -> None:
    fields = kwargs.get("update_fields")
    if kwargs.get("raw") or (fields is not None and not {"parent", "kind"} & set(fields)):
        return  # a declared winner, a pending change: the tree is the same
    refresh_members(instance.campaign_id)


post_save.connect(_activity_changed, sender=Activity, dispatch_uid="split-members-save")
post_delete.connect(_activity_changed, sender=Activity, dispatch_uid="split-members-delete")
