"""Running server actions on a batch of records (docs/product.md#server-actions), in bulk where the
action allows.

`run_action(action, record_ids, now)` returns {record_id: (error or None, note)} for the
records that failed or carry a note; records absent from the result succeeded. Bulk actions
use a constant number of statements (one UPDATE for a field set, one INSERT … SELECT for tags,
tasks, notes and subscriptions); only template values, webhooks and created records are
handled record by record, because each record really is rendered or sent on its own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime
from functools import lru_cache, partial
from typing import Any

import httpx
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.models import CharField, Exists, F, Min, OuterRef, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower, Trim

from drumbeat.lib import hooks, netguard
from drumbeat.lib.normalize import is_valid_email, normalize_email, normalize_phone
from drumbeat.lib.timezones import derive_zone

from .action_config import is_template, writable_field
from .engine.leases import Lease
from .engine.sql import id_set, insert_objects, insert_select, update_from_rows
from .models import ServerAction
from .targets import FILTERABLE, Target, get_target

log = logging.getLogger(__name__)

Results = dict[int, tuple[str | None, str]]

WEBHOOK_TIMEOUT = 5.0
WEBHOOK_ATTEMPTS = 3
WEBHOOK_BACKOFF = 0.5  # seconds, doubled after each failed attempt
SIGNATURE_HEADER = "X-Drumbeat-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
LIMITS = {"summary": 200}


class ActionFailed(Exception):
    """An action that failed for the whole batch (message shown on every trace)."""


def is_effectful(action: ServerAction) -> bool:
    """True when the action reaches outside the database (its start must be recorded first)."""
    if action.kind == ServerAction.Kind.MULTI:
        return action.children.filter(kind=ServerAction.Kind.SEND_WEBHOOK).exists()
    return action.kind == ServerAction.Kind.SEND_WEBHOOK


LIST_KINDS = (ServerAction.Kind.ADD_TO_LIST, ServerAction.Kind.REMOVE_FROM_LIST)


def is_set_based(action: ServerAction) -> bool:
    """True when the action is a few statements over its records whatever their number, and
    the records it fails for are a query too (`set_based_failures`): a field set or tagged to
    a fixed value, a task or note with fixed texts, a subscription added or removed. Such an
    action can run on a subquery of record ids (`run_set_based`)."""
    params = action.params or {}
    if action.kind == ServerAction.Kind.UPDATE_RECORD:
        return not is_template(params.get("value"))
    if action.kind == ServerAction.Kind.CREATE_ACTIVITY:
        return not any(is_template(params.get(k)) for k in ("summary", "note"))
    if action.kind == ServerAction.Kind.POST_NOTE:
        return not is_template(params.get("body"))
    return action.kind in LIST_KINDS


def set_based_failures(action: ServerAction, record_ids: RawSQL) -> list[tuple[str, RawSQL]]:
    """The records among `record_ids` a set-based action fails for, as (message, subquery of
    their ids): the caller marks them Error, then runs the action on the others, as
    `run_action` reports them one by one. (A failure of the whole batch raises instead.)"""
    target = get_target(action.target)
    if action.kind in LIST_KINDS and target.key != "mailing.mailingcontact":
        rows = _without_email(target, record_ids).values("pk")
        sql, params = rows.query.sql_with_params()
        return [(NO_EMAIL, RawSQL(sql, params))]
    return []


def run_set_based(action: ServerAction, record_ids: RawSQL, now: datetime) -> None:
    """Run a set-based action (`is_set_based`) on the records a subquery selects, those it
    fails for already left out (`set_based_failures`); raises when it fails (for the whole
    batch: every record has the same fixed values)."""
    run = RUNNERS[action.kind]
    if action.kind in LIST_KINDS:  # those without an address are marked already
        run = partial(run, report=False)
    run(action, get_target(action.target), record_ids, now)


def run_action(
    action: ServerAction, record_ids: list[int], now: datetime, lease: Lease | None = None
) -> Results:
    """Run `action` on `record_ids`; failures are reported per record, never raised. With the
    batch's `lease`, webhooks stop before their next call once it is lost (the records not
    called are then absent from the result: their traces are the new holder's)."""
    target = get_target(action.target)
    if action.kind == ServerAction.Kind.MULTI:
        results: Results = {}
        remaining = list(record_ids)
        for child in action.children.all():
            for record_id, (error, note) in _run_one(child, target, remaining, now, lease).items():
                if error:
                    results[record_id] = (f"{child.name}: {error}", "")
                elif note:
                    results[record_id] = (None, note)
            remaining = [r for r in remaining if not results.get(r, (None, ""))[0]]
        return results
    return _run_one(action, target, record_ids, now, lease)


def _run_one(
    action: ServerAction,
    target: Target,
    record_ids: list[int],
    now: datetime,
    lease: Lease | None = None,
) -> Results:
    if not record_ids:
        return {}
    run = RUNNERS[action.kind]
    if action.kind == ServerAction.Kind.SEND_WEBHOOK and lease is not None:
        run = partial(_send_webhook, may_send=lease.may_send)
    # A failing statement must not spoil the batch's transaction. A webhook only reads, and
    # runs outside any transaction (see execute._run_server_action): none is opened for it.
    guard = nullcontext() if action.kind == ServerAction.Kind.SEND_WEBHOOK else transaction.atomic()
    try:
        with guard:
            return run(action, target, record_ids, now) or {}
    except Exception as exc:
        log.warning("server action %s failed: %s", action.pk, exc)
        message = str(exc)[:400] or type(exc).__name__
        return {record_id: (message, "") for record_id in record_ids}


# --- rendering of template values ------------------------------------------------------------


def render_text(source: str, record: models.Model) -> str:
    """`source` rendered for `record` in the mailing sandbox (allowed fields only)."""
    from drumbeat.mailing import rendering

    return _compiled(source).render(record=rendering.record_view(record, FILTERABLE)).strip()


@lru_cache(maxsize=256)
def _compiled(source: str):
    """The template of `source`, compiled once (compiling cost ~0.25 ms, rendering a field a
    few µs: compiled per record, a templated value ran at 3,300 records/s)."""
    from drumbeat.mailing import rendering

    return rendering.TEXT_ENV.from_string(source)


def _records(target: Target, record_ids: list[int]) -> dict[int, models.Model]:
    return {r.pk: r for r in target.model._default_manager.filter(pk__in=id_set(record_ids))}


# --- update record ---------------------------------------------------------------------------


def _update_record(action: ServerAction, target: Target, ids: list[int], now: datetime) -> Results:
    params = action.params
    path: str = params["field"]
    op, value = params.get("operation", "set"), params.get("value")
    label, info = writable_field(target.key, path)
    model = target.model
    rows = model._default_manager.filter(pk__in=id_set(ids))
    if "." in path:
        relation, name = path.split(".")
        owner = model._meta.get_field(relation).related_model
        rows = owner._default_manager.filter(pk__in=rows.values(relation))
    else:
        owner, name = model, path
    field = owner._meta.get_field(name)
    if info.kind == "many2many":
        _update_m2m(owner, field, rows, op, value)
        return {}
    if not is_template(value):
        rows.update(**{field.attname if field.many_to_one else name: value})
        return {}
    if "." in path:
        raise ActionFailed("template values are only available on the record's own fields")
    results: Results = {}
    changed = []
    for record_id, record in _records(target, ids).items():
        try:
            rendered = field.to_python(render_text(value, record))
            field.run_validators(rendered)  # e.g. too long: this record's error, not a cut
            changed.append((record_id, field.get_db_prep_save(rendered, connection)))
        except Exception as exc:
            reason = "; ".join(exc.messages) if isinstance(exc, ValidationError) else exc
            results[record_id] = (f"{name}: {reason}"[:400], "")
    if changed:  # every record its own value: one statement
        column = connection.ops.quote_name(field.column)
        update_from_rows(
            connection.ops.quote_name(model._meta.db_table),
            [("id", "bigint"), ("value", field.db_type(connection))],
            changed,
            f"{column} = v.value",
        )
    return results


def _update_m2m(
    owner: type[models.Model], field: models.Field, rows: models.QuerySet, op: str, value: list
) -> None:
    through = field.remote_field.through
    source = field.m2m_field_name()  # e.g. "contact"
    target_name = field.m2m_reverse_field_name()  # e.g. "tag"
    if op in {"set", "clear", "remove"}:
        links = through._default_manager.filter(**{f"{source}__in": rows.values("pk")})
        if op == "remove":
            links = links.filter(**{f"{target_name}__in": value})
        elif op == "set":
            links = links.exclude(**{f"{target_name}__in": value})
        links.delete()
    if op in {"set", "add"}:
        # A many-to-many table Django creates has a unique (source, target) pair: the links a
        # record already has are skipped by the insert itself (ON CONFLICT), not looked up
        # first. (PostgreSQL: the lookup's plan, made when the table was empty, scanned it
        # once per record while the same statement filled it.)
        unique = through._meta.auto_created
        for related_id in value:
            missing = rows
            if not unique:
                exists = through._default_manager.filter(
                    **{source: OuterRef("pk"), target_name: related_id}
                )
                missing = rows.filter(~Exists(exists))
            select = (
                missing.annotate(_related=Value(related_id))
                .order_by()
                .values_list("pk", "_related")
            )
            insert_select(through, [source, target_name], select, skip_existing=unique)


# --- timeline: tasks and notes -----------------------------------------------------------------


def _timeline_rows(
    model: type[models.Model],
    target: Target,
    ids: list[int],
    now: datetime,
    texts: dict[str, str],
    extra: dict[str, Any],
) -> Results:
    """Insert one timeline row per record: INSERT … SELECT when no text is a template."""
    content_type = ContentType.objects.get_for_model(target.model)
    templated = {k: v for k, v in texts.items() if is_template(v)}
    plain = {k: v for k, v in texts.items() if k not in templated}
    results: Results = {}
    user_field = extra.pop("user_field", "")
    if not templated:
        annotations: dict[str, Any] = {
            "_ct": Value(content_type.pk),
            "_created": Value(now, output_field=models.DateTimeField()),
        }
        columns = ["content_type", "object_id", "created_at"]
        selected = ["_ct", "pk", "_created"]
        for name, text in {**plain, **extra}.items():
            alias = f"_{name}"
            output = models.DateField() if name == "due_date" else None
            annotations[alias] = Value(text, output_field=output) if output else Value(text)
            columns.append(name)
            selected.append(alias)
        if user_field:
            annotations["_user"] = F(target.model._meta.get_field(user_field).attname)
            columns.append("assigned_to")
            selected.append("_user")
        select = (
            target.model._default_manager.filter(pk__in=id_set(ids))
            .annotate(**annotations)
            .order_by("pk")
            .values_list(*selected)
        )
        insert_select(model, columns, select)
        return results
    rows = []
    for record_id, record in _records(target, ids).items():
        try:
            rendered = {
                k: render_text(v, record)[: LIMITS.get(k, 10000)] for k, v in templated.items()
            }
        except Exception as exc:
            results[record_id] = (f"render failed: {exc}"[:400], "")
            continue
        values = {**plain, **rendered, **extra}
        if user_field:
            values["assigned_to_id"] = getattr(
                record, target.model._meta.get_field(user_field).attname
            )
        rows.append(model(content_type=content_type, object_id=record_id, created_at=now, **values))
    insert_objects(model, rows)
    return results


def _create_activity(
    action: ServerAction, target: Target, ids: list[int], now: datetime
) -> Results:
    from drumbeat.timeline.models import Task

    p = action.params
    due = (now + relativedelta(**{p["due_unit"]: p["due_amount"]})).date()
    extra: dict[str, Any] = {"kind": p["activity_type"], "due_date": due, "done": False}
    if p.get("user_id"):
        extra["assigned_to_id"] = p["user_id"]
    if p.get("user_field"):
        extra["user_field"] = p["user_field"]
    texts = {"summary": p["summary"], "note": p.get("note") or ""}
    return _timeline_rows(Task, target, ids, now, texts, extra)


def _post_note(action: ServerAction, target: Target, ids: list[int], now: datetime) -> Results:
    from drumbeat.timeline.models import Note

    return _timeline_rows(Note, target, ids, now, {"body": action.params["body"]}, {})


# --- mailing lists ---------------------------------------------------------------------------


NO_EMAIL = "no email address"


def _by_email(target: Target, ids: list[int] | RawSQL) -> models.QuerySet:
    """The records, each with its address trimmed and lower-cased as `_email`."""
    rows = target.model._default_manager.filter(pk__in=id_set(ids))
    return rows.annotate(_email=Lower(Trim(target.email_field or "")))


def _without_email(target: Target, ids: list[int] | RawSQL) -> models.QuerySet:
    return _by_email(target, ids).filter(_email="")


def _mailing_contacts_for(
    target: Target, ids: list[int] | RawSQL, create: bool, now: datetime, report: bool = True
) -> tuple[models.QuerySet, Results]:
    """The mailing contacts of the records: themselves, or matched (created) by email. With
    `report`, the records without an address as results (else the caller left them out)."""
    from drumbeat.mailing.models import MailingContact

    if target.key == "mailing.mailingcontact":
        return MailingContact.objects.filter(pk__in=id_set(ids)), {}
    model = target.model
    email = target.email_field or ""
    rows = _by_email(target, ids)
    missing = rows.filter(_email="").values_list("pk", flat=True) if report else []
    results: Results = {pk: (NO_EMAIL, "") for pk in missing}
    with_email = rows.exclude(_email="")
    if create:
        existing = MailingContact.objects.annotate(_email=Lower(Trim("email"))).filter(
            _email=OuterRef("_email")
        )
        first = (
            with_email.filter(~Exists(existing))
            .order_by()
            .values("_email")
            .annotate(first=Min("pk"))
            .values("first")
        )
        own = {f.name for f in model._meta.get_fields()}

        def copy(name: str) -> Any:
            return F(name) if name in own else Value("", output_field=CharField())

        select = (
            model._default_manager.filter(pk__in=first)
            .annotate(
                _email=Lower(Trim(email)),
                _name=copy(target.name_field),
                _phone=copy(target.phone_field or "phone"),
                _company=copy("company_name"),
                _country=copy("country"),
                _zone=copy("time_zone"),
                _created=Value(now, output_field=models.DateTimeField()),
            )
            .order_by("pk")
            .values_list("_name", "_email", "_phone", "_company", "_country", "_zone", "_created")
        )
        insert_select(
            MailingContact,
            ["name", "email", "phone", "company_name", "country", "time_zone", "created_at"],
            select,
        )
    contacts = MailingContact.objects.annotate(_email=Lower(Trim("email"))).filter(
        _email__in=with_email.values("_email")
    )
    return contacts, results


def _add_to_list(
    action: ServerAction, target: Target, ids: list[int], now: datetime, report: bool = True
) -> Results:
    from drumbeat.mailing.models import Subscription

    list_id = action.params["list_id"]
    contacts, results = _mailing_contacts_for(target, ids, True, now, report)
    subscribed = Subscription.objects.filter(contact=OuterRef("pk"), list_id=list_id)
    select = (
        contacts.filter(~Exists(subscribed))
        .annotate(
            _list=Value(list_id),
            _no=Value(False),
            _reason=Value(""),
            _created=Value(now, output_field=models.DateTimeField()),
        )
        .order_by("pk")
        .values_list("pk", "_list", "_no", "_reason", "_no", "_created")
    )
    insert_select(
        Subscription,
        ["contact", "list", "opt_out", "opt_out_reason", "confirmed", "created_at"],
        select,
    )
    return results


def _remove_from_list(
    action: ServerAction, target: Target, ids: list[int], now: datetime, report: bool = True
) -> Results:
    from drumbeat.mailing.models import Subscription

    contacts, results = _mailing_contacts_for(target, ids, False, now, report)
    links = Subscription.objects.filter(
        list_id=action.params["list_id"], contact__in=contacts.values("pk")
    )
    links.delete()
    return results


# --- blacklists ------------------------------------------------------------------------------


def _addresses(target: Target, ids: list[int], phone: bool) -> tuple[dict[str, list[int]], Results]:
    field = target.phone_field if phone else target.email_field
    results: Results = {}
    by_address: dict[str, list[int]] = defaultdict(list)
    for pk, raw in target.model._default_manager.filter(pk__in=id_set(ids)).values_list(
        "pk", field
    ):
        value = normalize_phone(raw) if phone else normalize_email(raw)
        if not value or (not phone and not is_valid_email(value)):
            results[pk] = ("no valid phone number" if phone else "no valid email address", "")
        else:
            by_address[value].append(pk)
    return by_address, results


def _blacklist(phone: bool, active: bool):
    def run(action: ServerAction, target: Target, ids: list[int], now: datetime) -> Results:
        from drumbeat.mailing.models import EmailBlacklist, PhoneBlacklist

        model = PhoneBlacklist if phone else EmailBlacklist
        key = "number" if phone else "email"
        reason = action.params.get("reason") or action.name
        by_address, results = _addresses(target, ids, phone)
        addresses = list(by_address)
        existing = model.objects.filter(**{f"{key}__in": addresses})
        existing.update(active=active, reason=reason[:200], updated_at=now)
        if active:
            known = set(existing.values_list(key, flat=True))
            rows = [
                model(**{key: a}, reason=reason[:200], active=True, created_at=now)
                for a in addresses
                if a not in known
            ]
            insert_objects(model, rows, skip_existing=True)
        return results

    return run


# --- create record ---------------------------------------------------------------------------


def _create_record(action: ServerAction, target: Target, ids: list[int], now: datetime) -> Results:
    """One new record of `p["model"]` per record, linked back when `link_field` is set. The
    values the same for every record (fixed ones, defaults) are validated once, on a first
    object; per record only the rendered ones and the time zone derived from them, and the
    records are loaded only when a value renders them."""
    p = action.params
    new_target = get_target(p["model"])
    model = new_target.model
    results: Results = {}
    references = [f.name for f in model._meta.concrete_fields if f.many_to_one]
    fixed: dict[str, Any] = {}
    templated: dict[str, tuple[models.Field, str]] = {}
    m2m: dict[str, list[int]] = {}
    for name, value in p["values"].items():
        field = model._meta.get_field(name)
        if field.many_to_many:
            m2m[name] = value
        elif is_template(value):
            templated[name] = (field, value)
        else:
            fixed[field.attname if field.many_to_one else name] = value
    link = model._meta.get_field(p["link_field"]).attname if p.get("link_field") else None
    zoned = hasattr(model, "time_zone") and not fixed.get("time_zone")
    # A zone not given follows the phone and country: per record when one of them, or the
    # zone itself, is rendered.
    zone_per_record = zoned and bool({"phone", "country", "time_zone"} & templated.keys())
    per_record = {*templated, *(["time_zone"] if zone_per_record else [])}
    first = model(**fixed)
    if zoned and not zone_per_record:
        first.time_zone = _zone_of(first)
    try:
        first.full_clean(
            exclude=[*references, *per_record], validate_unique=False, validate_constraints=False
        )
    except Exception as exc:
        return {record_id: (f"{exc}"[:400], "") for record_id in ids}
    common = {f.attname: getattr(first, f.attname) for f in model._meta.concrete_fields}
    common.pop(model._meta.pk.attname, None)
    skipped = [f.name for f in model._meta.concrete_fields if f.name not in per_record]
    records: dict[int, Any] = _records(target, ids) if templated else dict.fromkeys(ids)
    created: list[tuple[int, models.Model]] = []
    for record_id, record in records.items():
        try:
            values = dict(common)
            for field, source in templated.values():
                values[field.attname] = field.to_python(render_text(source, record))
            if link:
                values[link] = record_id
            obj = model(**values)
            if zone_per_record and not obj.time_zone:
                obj.time_zone = _zone_of(obj)
            if per_record:
                obj.full_clean(exclude=skipped, validate_unique=False, validate_constraints=False)
        except Exception as exc:
            results[record_id] = (f"{exc}"[:400], "")
            continue
        created.append((record_id, obj))
    created = _existing_references(model, references, created, results)
    objs = [obj for _, obj in created]
    insert_objects(model, objs)
    for name, values in m2m.items():
        field = model._meta.get_field(name)
        through = field.remote_field.through
        source, other = field.m2m_field_name() + "_id", field.m2m_reverse_field_name() + "_id"
        rows = [through(**{source: obj.pk, other: value}) for obj in objs for value in values]
        through._default_manager.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    new_ids = [obj.pk for obj in objs if obj.pk]
    if new_ids:
        transaction.on_commit(lambda: hooks.records_changed(new_target.key, new_ids))
    for (record_id, _), obj in zip(created, objs, strict=True):
        results[record_id] = (None, f"created {new_target.label} #{obj.pk}")
    return results


def _zone_of(obj: models.Model) -> str:
    """The time zone the services would give a new record without one."""
    return derive_zone(getattr(obj, "phone", "") or "", getattr(obj, "country", "") or "")


def _existing_references(
    model: type[models.Model], references: list[str], created: list[tuple], results: Results
) -> list[tuple]:
    """The (record id, new object) pairs of `created` whose every reference (foreign key)
    exists, one query per reference field for the batch; the others get the error
    full_clean gives."""
    for name in references:
        field = model._meta.get_field(name)
        wanted = {getattr(obj, field.attname) for _, obj in created} - {None}
        if not wanted:
            continue
        target_field = field.remote_field.field_name
        found = set(
            field.remote_field.model._base_manager.filter(**{f"{target_field}__in": wanted})
            .complex_filter(field.get_limit_choices_to())
            .values_list(target_field, flat=True)
        )
        kept = []
        for record_id, obj in created:
            value = getattr(obj, field.attname)
            if value is None or value in found:
                kept.append((record_id, obj))
                continue
            label = field.remote_field.model._meta.verbose_name
            results[record_id] = (f"{name}: {label} #{value} does not exist", "")
        created = kept
    return created


# --- webhook ---------------------------------------------------------------------------------


def webhook_secret() -> bytes:
    return (getattr(settings, "WEBHOOK_SECRET", "") or settings.SECRET_KEY).encode()


def sign(body: bytes) -> str:
    return "sha256=" + hmac.new(webhook_secret(), body, hashlib.sha256).hexdigest()


def post_webhook(
    url: str, body: bytes, client: httpx.Client, may_send: Callable[[], bool] | None = None
) -> str:
    """POST with retries; returns the outcome ("HTTP 200"), raises ActionFailed when it fails.

    A URL whose host is (or resolves to) an address netguard refuses fails at once, and so
    does a redirect: it is not followed. Every attempt carries the same `Idempotency-Key`: a
    receiver that got an attempt whose answer was lost sees the retry as the same request.
    `may_send` (the batch's lease) is asked before each retry."""
    delay = WEBHOOK_BACKOFF
    last = ""
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body),
        IDEMPOTENCY_HEADER: uuid.uuid4().hex,
    }
    for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
        try:
            response = client.post(url, content=body, headers=headers)
            if response.status_code < 300:
                return f"webhook: HTTP {response.status_code}"
            if response.status_code < 400:
                raise ActionFailed(f"webhook: HTTP {response.status_code}, redirect not followed")
            last = f"HTTP {response.status_code}"
            if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
                break  # the receiver refused this payload: retrying would not help
        except netguard.AddressRefused as exc:
            raise ActionFailed(f"webhook: {exc}"[:400]) from None
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if attempt < WEBHOOK_ATTEMPTS:
            time.sleep(delay)
            delay *= 2
            if may_send is not None and not may_send():
                raise ActionFailed(f"webhook stopped, the batch's lease was lost: {last}"[:400])
    raise ActionFailed(f"webhook failed after retries: {last}"[:400])


def _send_webhook(
    action: ServerAction,
    target: Target,
    ids: list[int],
    now: datetime,
    may_send: Callable[[], bool] | None = None,
) -> Results:
    p = action.params
    fields = ["id", *[f for f in p.get("fields", []) if f != "id"]]
    model_fields = target.model._meta
    columns = [
        model_fields.get_field(f).attname if model_fields.get_field(f).many_to_one else f
        for f in fields
    ]
    results: Results = {}
    rows = target.model._default_manager.filter(pk__in=ids).values_list(*columns)
    with netguard.guarded_client(WEBHOOK_TIMEOUT) as client:
        for row in rows:
            if may_send is not None and not may_send():
                break  # the lease was lost: the new holder settles the rest
            payload = {"model": target.key, "id": row[0], "action": action.name}
            payload.update({name: value for name, value in zip(fields[1:], row[1:], strict=True)})
            body = json.dumps(payload, cls=DjangoJSONEncoder).encode()
            try:
                results[row[0]] = (None, post_webhook(p["url"], body, client, may_send))
            except ActionFailed as exc:
                results[row[0]] = (str(exc), "")
    return results


RUNNERS = {
    ServerAction.Kind.UPDATE_RECORD: _update_record,
    ServerAction.Kind.CREATE_ACTIVITY: _create_activity,
    ServerAction.Kind.POST_NOTE: _post_note,
    ServerAction.Kind.ADD_TO_LIST: _add_to_list,
    ServerAction.Kind.REMOVE_FROM_LIST: _remove_from_list,
    ServerAction.Kind.BLACKLIST_EMAIL: _blacklist(phone=False, active=True),
    ServerAction.Kind.UNBLACKLIST_EMAIL: _blacklist(phone=False, active=False),
    ServerAction.Kind.BLACKLIST_PHONE: _blacklist(phone=True, active=True),
    ServerAction.Kind.UNBLACKLIST_PHONE: _blacklist(phone=True, active=False),
    ServerAction.Kind.CREATE_RECORD: _create_record,
    ServerAction.Kind.SEND_WEBHOOK: _send_webhook,
}
