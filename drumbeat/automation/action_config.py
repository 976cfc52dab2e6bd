"""What each kind of server action is configured with, and its validation
(docs/product.md#server-actions).

`validate_params(action)` returns the cleaned params or raises `ActionConfigError` naming the
key at fault. Keys per kind:

- update_record: field (may follow one relation: "contact.city"), operation
  (set | add | remove | clear; add/remove/clear only for many-to-many), value (a scalar of the
  field's type, a template string such as "{{ record.name }}", an id for a many-to-one, a list
  of ids or names for a many-to-many; ignored by clear).
- create_activity: activity_type (todo | call | email | meeting), summary, note, due_amount,
  due_unit (days | weeks | months), and one of user_id or user_field (a user field of the record).
- post_note: body (template).
- add_to_list / remove_from_list: list_id.
- blacklist_email / unblacklist_email / blacklist_phone / unblacklist_phone: reason.
- create_record: model (target key), values {field: value or template}, link_field (optional:
  a many-to-one field of the new record that points back to the source record).
- send_webhook: url (http/https, not an inside address: lib/netguard.py), fields (list of
  field names of the record sent along).
- multi: no params; its children (ServerAction.parent) run in sequence order.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.apps import apps
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from drumbeat.lib import netguard

from .targets import FieldInfo, model_fields

if TYPE_CHECKING:
    from .models import ServerAction


class ActionConfigError(ValueError):
    pass


TASK_TYPES = ("todo", "call", "email", "meeting")
DUE_UNITS = ("days", "weeks", "months")
M2M_OPERATIONS = ("set", "add", "remove", "clear")
# Fields an action may never write.
READ_ONLY = {"id", "created_at"}

_syntax_env = SandboxedEnvironment()


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def check_template(value: str, key: str) -> str:
    try:
        _syntax_env.parse(value)
    except TemplateSyntaxError as e:
        raise ActionConfigError(f"{key}: line {e.lineno}: {e.message}") from e
    return value


def validate_params(action: ServerAction) -> dict:
    from .targets import _REGISTRY

    if action.target not in _REGISTRY:
        raise ActionConfigError(f"target: unknown target {action.target!r}")
    params = action.params if isinstance(action.params, dict) else None
    if params is None:
        raise ActionConfigError("params: must be an object")
    check = _CHECKS.get(action.kind)
    if check is None:
        raise ActionConfigError(f"kind: unknown action kind {action.kind!r}")
    return check(action.target, dict(params))


def writable_field(label: str, path: str, key: str = "field") -> tuple[str, FieldInfo]:
    """(model label owning the last field, its info) for a dotted path of at most one hop."""
    if not isinstance(path, str) or not path:
        raise ActionConfigError(f"{key}: a field name is required")
    parts = path.split(".")
    if len(parts) > 2:
        raise ActionConfigError(f"{key}: {path!r} may follow at most one relation")
    fields = model_fields(label)
    if len(parts) == 2:
        rel = fields.get(parts[0])
        if rel is None or rel.kind != "many2one":
            raise ActionConfigError(f"{key}: {parts[0]!r} is not a many-to-one field of {label}")
        label = rel.related or ""
        fields = model_fields(label)
    info = fields.get(parts[-1])
    if info is None or info.name in READ_ONLY or info.kind == "one2many":
        raise ActionConfigError(f"{key}: {parts[-1]!r} is not a writable field of {label}")
    return label, info


def _related_ids(info: FieldInfo, value: Any, key: str) -> list[int]:
    model = apps.get_model(info.related or "")
    items = value if isinstance(value, list) else [value]
    ids: list[int] = []
    names: list[str] = []
    for item in items:
        if isinstance(item, bool):
            raise ActionConfigError(f"{key}: {item!r} is not an id or a name")
        if isinstance(item, int):
            ids.append(item)
        elif isinstance(item, str) and item.strip().isdigit():
            ids.append(int(item))
        elif isinstance(item, str) and item.strip():
            names.append(item.strip())
        else:
            raise ActionConfigError(f"{key}: {item!r} is not an id or a name")
    if names:
        if not any(f.name == "name" for f in model._meta.get_fields()):
            raise ActionConfigError(f"{key}: give ids for {model._meta.verbose_name_plural}")
        found = dict(model._default_manager.filter(name__in=names).values_list("name", "pk"))
        missing = [n for n in names if n not in found]
        if missing:
            raise ActionConfigError(
                f"{key}: no {model._meta.verbose_name} named {', '.join(map(repr, missing))}"
            )
        ids.extend(found[n] for n in names)
    existing = set(model._default_manager.filter(pk__in=ids).values_list("pk", flat=True))
    missing_ids = [i for i in ids if i not in existing]
    if missing_ids:
        raise ActionConfigError(f"{key}: no {model._meta.verbose_name} with id {missing_ids[0]}")
    return list(dict.fromkeys(ids))


def check_value(info: FieldInfo, value: Any, key: str) -> Any:
    """The value cleaned for the field's type; template strings are kept (checked for syntax)."""
    if is_template(value) and info.kind in {"char", "int", "float", "date", "datetime"}:
        return check_template(value, key)
    if value is None or value is False and info.kind != "bool":
        if info.kind in {"many2one", "date", "datetime"} or info.nullable:
            return None
        if info.kind == "char":
            return ""
        raise ActionConfigError(f"{key}: {info.name} cannot be empty")
    kind = info.kind
    if kind == "selection":
        allowed = [c[0] for c in info.choices]
        if value not in allowed and str(value) not in [str(a) for a in allowed]:
            raise ActionConfigError(f"{key}: {value!r} is not one of {allowed}")
        return next(a for a in allowed if a == value or str(a) == str(value))
    if kind == "char":
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ActionConfigError(f"{key}: expected text for {info.name}")
        return str(value)
    if kind == "int":
        try:
            if isinstance(value, bool):
                raise ValueError
            return int(str(value))
        except ValueError:
            raise ActionConfigError(f"{key}: expected a whole number for {info.name}") from None
    if kind == "float":
        try:
            if isinstance(value, bool):
                raise InvalidOperation
            return str(Decimal(str(value)))
        except InvalidOperation:
            raise ActionConfigError(f"{key}: expected a number for {info.name}") from None
    if kind == "bool":
        if not isinstance(value, bool):
            raise ActionConfigError(f"{key}: expected true or false for {info.name}")
        return value
    if kind in {"date", "datetime"}:
        from django.utils.dateparse import parse_date, parse_datetime

        parsed = parse_date(value) if kind == "date" else parse_datetime(str(value))
        if kind == "datetime" and parsed is None:
            parsed = parse_date(str(value))
        if not isinstance(value, str) or parsed is None:
            raise ActionConfigError(f"{key}: expected an ISO {kind} for {info.name}")
        return value
    if kind == "many2one":
        return _related_ids(info, value, key)[0]
    raise ActionConfigError(f"{key}: {info.name} cannot be set this way")


def _check_update_record(label: str, p: dict) -> dict:
    _, info = writable_field(label, p.get("field", ""))
    op = p.get("operation") or "set"
    if info.kind == "many2many":
        if op not in M2M_OPERATIONS:
            raise ActionConfigError(f"operation: one of {', '.join(M2M_OPERATIONS)}")
        value = [] if op == "clear" else _related_ids(info, p.get("value"), "value")
        if op in {"add", "remove"} and not value:
            raise ActionConfigError("value: at least one item to add or remove")
        return {"field": p["field"], "operation": op, "value": value}
    if op != "set":
        raise ActionConfigError(f"operation: {info.name} can only be set")
    return {
        "field": p["field"],
        "operation": "set",
        "value": check_value(info, p.get("value"), "value"),
    }


def _check_create_activity(label: str, p: dict) -> dict:
    kind = p.get("activity_type", "todo")
    if kind not in TASK_TYPES:
        raise ActionConfigError(f"activity_type: one of {', '.join(TASK_TYPES)}")
    summary = p.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        raise ActionConfigError("summary: required")
    check_template(summary, "summary")
    note = p.get("note") or ""
    if not isinstance(note, str):
        raise ActionConfigError("note: expected text")
    check_template(note, "note")
    due_amount = p.get("due_amount", 0)
    if isinstance(due_amount, bool) or not isinstance(due_amount, int) or due_amount < 0:
        raise ActionConfigError("due_amount: a whole number ≥ 0")
    due_unit = p.get("due_unit", "days")
    if due_unit not in DUE_UNITS:
        raise ActionConfigError(f"due_unit: one of {', '.join(DUE_UNITS)}")
    user_id, user_field = p.get("user_id"), p.get("user_field") or ""
    if user_id is not None and user_field:
        raise ActionConfigError("user_id: give a user or a user field, not both")
    if user_id is not None:
        from django.contrib.auth import get_user_model

        if isinstance(user_id, bool) or not isinstance(user_id, int):
            raise ActionConfigError("user_id: expected a user id")
        if not get_user_model().objects.filter(pk=user_id).exists():
            raise ActionConfigError(f"user_id: no user with id {user_id}")
    if user_field:
        info = model_fields(label).get(user_field)
        if info is None or info.kind != "many2one" or info.related != "accounts.user":
            raise ActionConfigError(f"user_field: {user_field!r} is not a user field of {label}")
    return {
        "activity_type": kind,
        "summary": summary.strip(),
        "note": note,
        "due_amount": due_amount,
        "due_unit": due_unit,
        "user_id": user_id,
        "user_field": user_field,
    }


def _check_post_note(label: str, p: dict) -> dict:
    body = p.get("body")
    if not isinstance(body, str) or not body.strip():
        raise ActionConfigError("body: the note text is required")
    return {"body": check_template(body, "body")}


def _check_list(label: str, p: dict) -> dict:
    from drumbeat.mailing.models import MailingList

    list_id = p.get("list_id")
    if isinstance(list_id, str) and list_id.isdigit():
        list_id = int(list_id)
    if isinstance(list_id, bool) or not isinstance(list_id, int):
        raise ActionConfigError("list_id: a mailing list is required")
    if not MailingList.objects.filter(pk=list_id).exists():
        raise ActionConfigError(f"list_id: no mailing list with id {list_id}")
    return {"list_id": list_id}


def _check_reason(field: str):
    def check(label: str, p: dict) -> dict:
        from .targets import get_target

        if not getattr(get_target(label), field):
            raise ActionConfigError(f"kind: this target has no {field.split('_')[0]} field")
        reason = p.get("reason") or ""
        if not isinstance(reason, str):
            raise ActionConfigError("reason: expected text")
        return {"reason": reason[:200]}

    return check


def _check_create_record(label: str, p: dict) -> dict:
    from .targets import _REGISTRY

    model = p.get("model")
    if model not in _REGISTRY:
        raise ActionConfigError(f"model: unknown target {model!r}")
    values = p.get("values")
    if not isinstance(values, dict) or not values:
        raise ActionConfigError("values: at least one field value is required")
    clean: dict[str, Any] = {}
    for name, value in values.items():
        _, info = writable_field(model, name, key=f"values.{name}")
        if "." in name:
            raise ActionConfigError(f"values.{name}: fields of the new record only")
        if info.kind == "many2many":
            clean[name] = _related_ids(info, value, f"values.{name}")
        else:
            clean[name] = check_value(info, value, f"values.{name}")
    link_field = p.get("link_field") or ""
    if link_field:
        info = model_fields(model).get(link_field)
        if info is None or info.kind != "many2one" or info.related != label:
            raise ActionConfigError(
                f"link_field: {link_field!r} is not a field of {model} pointing to {label}"
            )
    return {"model": model, "values": clean, "link_field": link_field}


def _check_webhook(label: str, p: dict) -> dict:
    url = p.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if not parts or parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ActionConfigError("url: an http(s) URL is required")
    try:
        netguard.check_url(url)
    except netguard.AddressRefused as exc:
        raise ActionConfigError(f"url: {exc}") from None
    fields = p.get("fields") or []
    if not isinstance(fields, list):
        raise ActionConfigError("fields: expected a list of field names")
    known = model_fields(label)
    for name in fields:
        if name not in known or known[name].is_to_many:
            raise ActionConfigError(f"fields: {name!r} is not a field of {label}")
    return {"url": url, "fields": list(dict.fromkeys(fields))}


def _check_multi(label: str, p: dict) -> dict:
    return {}


_CHECKS = {
    "update_record": _check_update_record,
    "create_activity": _check_create_activity,
    "post_note": _check_post_note,
    "add_to_list": _check_list,
    "remove_from_list": _check_list,
    "blacklist_email": _check_reason("email_field"),
    "unblacklist_email": _check_reason("email_field"),
    "blacklist_phone": _check_reason("phone_field"),
    "unblacklist_phone": _check_reason("phone_field"),
    "create_record": _check_create_record,
    "send_webhook": _check_webhook,
    "multi": _check_multi,
}
