"""Figures the record pages show, computed with aggregates (never stored counters).

Campaign and activity figures are not here: they come from drumbeat.automation.metrics."""

from __future__ import annotations

from django.db.models import Count, Q

from drumbeat.automation.metrics import percent
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
    """Recipients, opt-out %, blacklist % and bounce % of a mailing list
    (docs/product.md#mailing-lists)."""
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
        "opt_out_pct": percent(counts["opted_out"], total),
        "blacklist_pct": percent(blacklisted, total),
        "bounce_pct": percent(message_counts["bounced"], message_counts["sent"]),
        "messages_sent": message_counts["sent"],
    }
