"""What Drumbeat holds about one person, and forgetting them (GDPR access and erasure requests).

A person is an email address. The records that carry it (contacts, leads, registrations,
mailing contacts — every target with an email field) are theirs, and so is everything attached
to those records or sent to that address: subscriptions, notes and tasks, campaign
participations with their traces, messages with their opens, clicks and replies, and the SMS
they sent to our numbers.

`export_person(email)` gathers all of it as plain JSON-ready data.
`forget_records(target_key, ids)` does for given records what `forget_person` does for an
address (for delete paths).

`forget_person(email)` deletes the records, their subscriptions, notes and tasks, and
anonymises what campaign metrics are computed from instead of deleting it: messages keep their
state and event times but lose the address, subject, failure text and record link; clicks keep
their time and link but lose IP and user agent; participants keep their traces but lose their
unique key (the address), are marked removed and have their scheduled traces cancelled. Counts
per activity, link and campaign are therefore the same before and after. An active blacklist
entry for the address is kept (the suppression is what guarantees they are never mailed again)
unless `keep_suppression=False`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Lower, Trim

from drumbeat.lib import clock
from drumbeat.lib.normalize import normalize_email, normalize_phone
from drumbeat.mailing.models import (
    Click,
    EmailBlacklist,
    InboundSms,
    Message,
    OutboxEntry,
    PhoneBlacklist,
    Subscription,
)
from drumbeat.timeline.models import Note, Task

from .models import Participant, Trace
from .splits import assignments_of
from .targets import Target, all_targets

ANONYMOUS_RECIPIENT = "forgotten@anonymised.invalid"
REASON_FORGOTTEN = "record removed"


def _person_targets() -> list[Target]:
    return [t for t in all_targets() if t.email_field]


def records_of(email: str) -> dict[str, list[models.Model]]:
    """The records whose email field is `email` (normalised comparison), by target key."""
    address = normalize_email(email)
    found: dict[str, list[models.Model]] = {}
    if not address:
        return found
    for target in _person_targets():
        rows = (
            target.model._default_manager.annotate(_address=Lower(Trim(target.email_field)))
            .filter(_address=address)
            .order_by("pk")
        )
        found[target.key] = list(rows)
    return found


def _messages_q(address: str, records: dict[str, list[int]]) -> Q:
    q = Q(recipient=address)
    for key, ids in records.items():
        if ids:
            q |= Q(record_model=key, record_id__in=ids)
    return q


def _participants_q(records: dict[str, list[int]]) -> Q:
    q = Q(pk__in=[])
    for key, ids in records.items():
        if ids:
            q |= Q(campaign__target=key, record_id__in=ids)
    return q


def _phones(records: dict[str, list[models.Model]]) -> set[str]:
    phones = set()
    for target in _person_targets():
        if not target.phone_field:
            continue
        for record in records.get(target.key, []):
            number = normalize_phone(str(getattr(record, target.phone_field, "") or ""))
            if number:
                phones.add(number)
    return phones


def _timeline_q(records: dict[str, list[int]]) -> Q:
    q = Q(pk__in=[])
    for target in _person_targets():
        ids = records.get(target.key, [])
        if ids:
            content_type = ContentType.objects.get_for_model(target.model)
            q |= Q(content_type=content_type, object_id__in=ids)
    return q


# --- export ---------------------------------------------------------------------------------


def _record_data(record: models.Model) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for f in record._meta.concrete_fields:
        data[f.name if not f.is_relation else f.attname] = getattr(record, f.attname)
    for f in record._meta.many_to_many:
        data[f.name] = [str(o) for o in getattr(record, f.name).all()]
    return data


def export_person(email: str) -> dict[str, Any]:
    """Everything held about `email`, as JSON-ready data (dates stay datetimes: dump with
    DjangoJSONEncoder)."""
    address = normalize_email(email)
    records = records_of(address)
    ids = _ids(records)
    result: dict[str, Any] = {"email": address, "exported_at": clock.now()}
    for target in _person_targets():
        rows = records.get(target.key, [])
        result[target.key] = [_record_data(r) for r in rows]

    mailing_contacts = records.get("mailing.mailingcontact", [])
    result["subscriptions"] = list(
        Subscription.objects.filter(contact__in=mailing_contacts)
        .order_by("pk")
        .values(
            "contact_id",
            "list__name",
            "opt_out",
            "opt_out_at",
            "opt_out_reason",
            "confirmed",
            "created_at",
        )
    )
    result["blacklist"] = {
        "emails": list(
            EmailBlacklist.objects.filter(email=address).values(
                "email", "reason", "active", "created_at", "updated_at"
            )
        ),
        "phones": list(
            PhoneBlacklist.objects.filter(number__in=_phones(records)).values(
                "number", "reason", "active", "created_at", "updated_at"
            )
        ),
    }

    messages = list(
        Message.objects.filter(_messages_q(address, ids))
        .order_by("pk")
        .values(
            "id",
            "channel",
            "recipient",
            "subject",
            "state",
            "campaign_id",
            "activity_id",
            "record_model",
            "record_id",
            "is_test",
            "message_id",
            "created_at",
            "sent_at",
            "opened_at",
            "clicked_at",
            "replied_at",
            "bounced_at",
            "bounce_kind",
            "failure_reason",
        )
    )
    clicks: dict[int, list[dict[str, Any]]] = {}
    for click in (
        Click.objects.filter(message_id__in=[m["id"] for m in messages])
        .order_by("at")
        .values("message_id", "link__url", "at", "ip", "user_agent", "is_machine")
    ):
        clicks.setdefault(click.pop("message_id"), []).append(click)
    for message in messages:
        message["clicks"] = clicks.get(message["id"], [])
    result["messages"] = messages
    result["inbound_sms"] = list(
        InboundSms.objects.filter(
            Q(sender__in=_phones(records)) | Q(message_id__in=[m["id"] for m in messages])
        )
        .order_by("pk")
        .values("sender", "recipient", "text", "kind", "message_id", "received_at")
    )

    participants = list(
        Participant.objects.filter(_participants_q(ids))
        .order_by("pk")
        .values(
            "id",
            "campaign_id",
            "campaign__name",
            "campaign__target",
            "record_id",
            "unique_key",
            "state",
            "is_test",
            "enrolled_at",
            "completed_at",
            "converted_at",
        )
    )
    branches = assignments_of(p["id"] for p in participants)
    traces: dict[int, list[dict[str, Any]]] = {}
    for trace in (
        Trace.objects.filter(participant_id__in=[p["id"] for p in participants])
        .order_by("pk")
        .values(
            "participant_id",
            "activity__name",
            "state",
            "reason",
            "scheduled_at",
            "executed_at",
            "message_id",
        )
    ):
        traces.setdefault(trace.pop("participant_id"), []).append(trace)
    for participant in participants:
        participant["traces"] = traces.get(participant["id"], [])
        participant["split_branches"] = branches.get(participant["id"], {})
    result["participants"] = participants

    timeline = _timeline_q(ids)
    result["notes"] = list(
        Note.objects.filter(timeline)
        .order_by("pk")
        .values("content_type__model", "object_id", "body", "author__username", "created_at")
    )
    result["tasks"] = list(
        Task.objects.filter(timeline)
        .order_by("pk")
        .values(
            "content_type__model",
            "object_id",
            "kind",
            "summary",
            "note",
            "due_date",
            "done",
            "done_at",
            "created_at",
        )
    )
    return result


# --- erasure --------------------------------------------------------------------------------


@dataclass
class ForgetReport:
    email: str
    records: dict[str, int] = field(default_factory=dict)  # deleted, by target key
    messages: int = 0  # anonymised
    clicks: int = 0  # anonymised
    participants: int = 0  # anonymised (traces kept)
    traces_cancelled: int = 0
    notes: int = 0
    tasks: int = 0
    inbound_sms: int = 0  # deleted
    suppression_kept: bool = False

    @property
    def found(self) -> bool:
        return bool(sum(self.records.values()) or self.messages or self.participants)


def forget_person(email: str, *, keep_suppression: bool = True) -> ForgetReport:
    """Delete the records of `email` and anonymise their history (see the module docstring).
    One transaction; a constant number of statements per target."""
    address = normalize_email(email)
    report = ForgetReport(email=address)
    if not address:
        return report
    with transaction.atomic():
        found = records_of(address)
        report.inbound_sms = InboundSms.objects.filter(sender__in=_phones(found)).delete()[0]
        records = _ids(found)
        _forget(records, _messages_q(address, records), report)
        suppression = EmailBlacklist.objects.filter(email=address)
        if keep_suppression:
            report.suppression_kept = suppression.filter(active=True).exists()
        else:
            suppression.delete()
    return report


def forget_records(target_key: str, ids: Iterable[int]) -> ForgetReport:
    """Delete these records of one target and anonymise their history as `forget_person` does
    (for delete paths that must leave no personal data behind). Blacklists are untouched."""
    record_ids = [int(i) for i in ids]
    report = ForgetReport(email="")
    with transaction.atomic():
        records = {target_key: record_ids}
        _forget(records, Q(record_model=target_key, record_id__in=record_ids), report)
    return report


def _ids(records: dict[str, list[models.Model]]) -> dict[str, list[int]]:
    return {key: [r.pk for r in rows] for key, rows in records.items()}


def _forget(records: dict[str, list[int]], messages_q: Q, report: ForgetReport) -> None:
    now = clock.now()
    message_ids = list(Message.objects.filter(messages_q).values_list("pk", flat=True))
    OutboxEntry.objects.filter(message_id__in=message_ids).delete()
    report.inbound_sms += InboundSms.objects.filter(message_id__in=message_ids).delete()[0]
    report.clicks = Click.objects.filter(message_id__in=message_ids).update(ip=None, user_agent="")
    report.messages = Message.objects.filter(pk__in=message_ids).update(
        recipient=ANONYMOUS_RECIPIENT, subject="", failure_reason="", record_id=None
    )

    participants = Participant.objects.filter(_participants_q(records))
    participant_ids = list(participants.values_list("pk", flat=True))
    report.traces_cancelled = Trace.objects.filter(
        participant_id__in=participant_ids, state=Trace.State.SCHEDULED
    ).update(
        state=Trace.State.CANCELLED, reason=REASON_FORGOTTEN, executed_at=now, claim_expires_at=None
    )
    Participant.objects.filter(pk__in=participant_ids, state=Participant.State.RUNNING).update(
        state=Participant.State.REMOVED, completed_at=now
    )
    report.participants = Participant.objects.filter(pk__in=participant_ids).update(unique_key="")

    timeline = _timeline_q(records)
    report.notes = Note.objects.filter(timeline).delete()[0]
    report.tasks = Task.objects.filter(timeline).delete()[0]
    for target in _person_targets():
        ids = records.get(target.key, [])
        if ids:
            target.model._default_manager.filter(pk__in=ids).delete()
            report.records[target.key] = len(ids)
        elif target.key not in report.records:
            report.records[target.key] = 0
