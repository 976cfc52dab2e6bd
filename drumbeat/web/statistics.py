"""Figures the record pages show, computed with aggregates (never stored counters)."""

from __future__ import annotations

from django.db.models import Count, Q

from drumbeat.mailing.models import EmailBlacklist, MailingList, Message, Subscription


def campaigns_of(target_key: str, record_id: int) -> list:
    """The participations of a record in campaigns of its target, newest first."""
    from drumbeat.automation.models import Participant

    return list(
        Participant.objects.filter(campaign__target=target_key, record_id=record_id)
        .select_related("campaign")
        .order_by("-enrolled_at")[:20]
    )


def list_statistics(mailing_list: MailingList) -> dict:
    """Recipients, opt-out %, blacklist % and bounce % of a mailing list (SPEC §8.1)."""
    subs = Subscription.objects.filter(list=mailing_list)
    counts = subs.aggregate(
        total=Count("id"),
        opted_out=Count("id", filter=Q(opt_out=True)),
        confirmed=Count("id", filter=Q(confirmed=True)),
    )
    emails = subs.exclude(contact__email="").values("contact__email")
    blacklisted = EmailBlacklist.objects.filter(active=True, email__in=emails).count()
    sent = Message.objects.filter(channel="email", recipient__in=emails).exclude(
        sent_at__isnull=True
    )
    message_counts = sent.aggregate(
        sent=Count("id"), bounced=Count("id", filter=Q(bounced_at__isnull=False))
    )
    total = counts["total"]
    return {
        "recipients": total - counts["opted_out"],
        "subscriptions": total,
        "opted_out": counts["opted_out"],
        "confirmed": counts["confirmed"],
        "blacklisted": blacklisted,
        "opt_out_pct": _pct(counts["opted_out"], total),
        "blacklist_pct": _pct(blacklisted, total),
        "bounce_pct": _pct(message_counts["bounced"], message_counts["sent"]),
        "messages_sent": message_counts["sent"],
    }


def _pct(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


# --- campaigns ---------------------------------------------------------------------------------

CHART_DAYS = 15


def participant_figures(campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """campaign id -> {total, running, completed} (test participants excluded), one query."""
    from drumbeat.automation.models import Participant

    result = {pk: {"total": 0, "running": 0, "completed": 0} for pk in campaign_ids}
    rows = (
        Participant.objects.filter(campaign_id__in=campaign_ids, is_test=False)
        .values("campaign_id", "state")
        .annotate(n=Count("id"))
    )
    for row in rows:
        figures = result[row["campaign_id"]]
        if row["state"] in figures:
            figures[row["state"]] = row["n"]
        if row["state"] in {"running", "completed"}:
            figures["total"] += row["n"]
    return result


def smart_figures(campaign) -> dict[str, int]:
    """Templates, Clicks, Tests, Participants of a campaign (SPEC §3)."""
    from drumbeat.automation.models import Participant
    from drumbeat.mailing.models import Click

    participants = Participant.objects.filter(campaign=campaign).aggregate(
        tests=Count("id", filter=Q(is_test=True)),
        participants=Count("id", filter=Q(is_test=False, state__in=["running", "completed"])),
    )
    return {
        "templates": campaign.activities.exclude(template=None)
        .values("template_id")
        .distinct()
        .count(),
        "clicks": Click.objects.filter(
            message__campaign_id=campaign.pk, message__is_test=False
        ).count(),
        **participants,
    }


def activity_figures(campaign, today) -> dict[int, dict]:
    """activity id -> trace counts by state, message rates and the 15-day series (tests
    excluded). A constant number of queries per campaign."""
    import datetime as dt

    from django.db.models.functions import TruncDate

    from drumbeat.automation.models import Trace

    activity_ids = list(campaign.activities.values_list("id", flat=True))
    days = [today - dt.timedelta(days=CHART_DAYS - 1 - i) for i in range(CHART_DAYS)]
    result = {
        pk: {
            "states": {},
            "success": 0,
            "rejected": 0,
            "mail": {},
            "days": days,
            "success_series": [0] * CHART_DAYS,
            "rejected_series": [0] * CHART_DAYS,
        }
        for pk in activity_ids
    }
    traces = Trace.objects.filter(activity_id__in=activity_ids, is_test=False)
    for row in traces.values("activity_id", "state").annotate(n=Count("id")):
        result[row["activity_id"]]["states"][row["state"]] = row["n"]
    for figures in result.values():
        figures["success"] = figures["states"].get("processed", 0)
        figures["rejected"] = figures["states"].get("rejected", 0)
    index = {d: i for i, d in enumerate(days)}
    recent = (
        traces.filter(state__in=["processed", "rejected"], executed_at__date__gte=days[0])
        .annotate(day=TruncDate("executed_at"))
        .values("activity_id", "state", "day")
        .annotate(n=Count("id"))
    )
    for row in recent:
        i = index.get(row["day"])
        if i is not None:
            key = "success_series" if row["state"] == "processed" else "rejected_series"
            result[row["activity_id"]][key][i] += row["n"]
    messages = (
        Message.objects.filter(activity_id__in=activity_ids, is_test=False)
        .values("activity_id")
        .annotate(
            sent=Count("id", filter=Q(sent_at__isnull=False)),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
            replied=Count("id", filter=Q(replied_at__isnull=False)),
            bounced=Count("id", filter=Q(bounced_at__isnull=False)),
        )
    )
    for row in messages:
        sent = row["sent"]
        result[row["activity_id"]]["mail"] = {
            name: {"n": row[name], "pct": _pct(row[name], sent)}
            for name in ("sent", "opened", "clicked", "replied", "bounced")
        }
    return result
