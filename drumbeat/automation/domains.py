"""The filter language: Odoo-style domains as JSON, validated against the target registry and
compiled to a Django `Q` that always evaluates in SQL (docs/product.md#filters).

    [["email", "!=", false], "|", ["country", "=", "BE"], ["tags.name", "=", "VIP"]]

Semantics worth knowing:
- consecutive terms are AND-ed; "&", "|" take two operands and "!" one (prefix notation);
- `false`/`null` as a value means "not set" (NULL or empty text, no related record);
- a path through a many-to-one relation matches when the related record exists and matches;
- a path through a to-many relation matches when *any* related record matches; a negative
  operator there (!=, not_in, not_like, not_ilike) means that *none* matches;
- `{"now": "-7d"}` (units h, d, w, m) is resolved against the clock at compile time;
- `any` / `not_any` take a sub-domain on the related model;
- `like` is a case-sensitive "contains", `ilike` a case-insensitive one (SQLite folds ASCII
  case only); `=like` / `=ilike` are SQL patterns (`%` any run, `_` one character, no escape
  character), matched against the whole value;
- ordered choices (a lead's priority) accept < <= > >=; `in` lists may hold `false`.

`validate_domain` raises `DomainError` naming the element at fault; `compile_domain` validates
then compiles; `filter_records` and `count_matching` are what callers usually want.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from dateutil.relativedelta import relativedelta
from django.apps import apps
from django.db import models
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Lower, StrIndex, Trim
from django.db.models.lookups import GreaterThan
from django.utils import dateparse, timezone

from drumbeat.lib.clock import now as clock_now

from .targets import MAX_RELATION_DEPTH, FieldInfo, Target, get_target, model_fields

MAX_DOMAIN_ELEMENTS = 500
MAX_NESTING = 32
MAX_JSON_BYTES = 100_000
MAX_IN_VALUES = 10_000

LOGIC_OPERATORS = {"&", "|", "!"}
NEGATIVE_OPERATORS = {"!=", "not_in", "not_like", "not_ilike"}
POSITIVE_OF = {"!=": "=", "not_in": "in", "not_like": "like", "not_ilike": "ilike"}
TEXT_OPERATORS = {"=", "!=", "in", "not_in", "like", "not_like", "ilike", "not_ilike"}
TEXT_OPERATORS |= {"=like", "=ilike"}
ORDER_OPERATORS = {"=", "!=", ">", ">=", "<", "<=", "in", "not_in"}
OPERATORS_BY_KIND: dict[str, set[str]] = {
    "char": TEXT_OPERATORS,
    "int": ORDER_OPERATORS,
    "float": ORDER_OPERATORS,
    "date": ORDER_OPERATORS - {"in", "not_in"},
    "datetime": ORDER_OPERATORS - {"in", "not_in"},
    "bool": {"=", "!="},
    "virtual": {"=", "!="},
    "selection": {"=", "!=", "in", "not_in"},
    "many2one": {"=", "!=", "in", "not_in", "any", "not_any"},
    "one2many": {"=", "!=", "in", "not_in", "any", "not_any"},
    "many2many": {"=", "!=", "in", "not_in", "any", "not_any"},
}
ALL_OPERATORS = set().union(*OPERATORS_BY_KIND.values()) | {">", ">=", "<", "<="}
RELATIVE_DATE = re.compile(r"^\s*([+-]?)(\d{1,5})\s*([hdwm])\s*$")


class DomainError(ValueError):
    """A filter that cannot be used; the message names the element at fault."""


@dataclass(frozen=True)
class Condition:
    path: tuple[str, ...]
    fields: tuple[FieldInfo, ...]  # one per path segment
    operator: str
    value: Any  # validated; a sub-domain Node for any/not_any
    where: str  # human description of the element, for errors raised later


@dataclass(frozen=True)
class Logic:
    operator: str  # "&", "|", "!"
    operands: tuple[Node, ...]


Node = Condition | Logic | None  # None: the empty domain (matches everything)


# --- parsing and validation -----------------------------------------------------------------


def parse_domain(raw: str | bytes | list | None) -> list:
    """JSON text (or an already decoded list) -> a list, with size limits."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, str | bytes):
        if len(raw) > MAX_JSON_BYTES:
            raise DomainError(f"The filter is too large (more than {MAX_JSON_BYTES} bytes).")
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise DomainError(f"The filter is not valid JSON: {exc}")
    if not isinstance(raw, list):
        raise DomainError(
            'A filter must be a JSON list of conditions, e.g. [["email", "!=", false]].'
        )
    try:
        size = len(json.dumps(raw))
    except RecursionError:
        raise DomainError(f"The filter is nested too deeply (more than {MAX_NESTING} levels).")
    except (TypeError, ValueError) as exc:
        raise DomainError(f"The filter holds a value that is not JSON: {exc}")
    if size > MAX_JSON_BYTES:
        raise DomainError(f"The filter is too large (more than {MAX_JSON_BYTES} bytes).")
    return raw


def validate_domain(target: Target | str, domain: Any) -> Node:
    """Check `domain` against the target's fields; returns its tree or raises DomainError."""
    if isinstance(target, str):
        target = _target(target)
    return _validate(target.key, parse_domain(domain), depth=0, where="filter", virtual=target)


def _target(key: str) -> Target:
    try:
        return get_target(key)
    except KeyError:
        raise DomainError(f"Unknown target {key!r}.")


def _describe(element: Any) -> str:
    text = json.dumps(element, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _validate(
    model_label: str, domain: Any, depth: int, where: str, virtual: Target | None
) -> Node:
    if not isinstance(domain, list):
        raise DomainError(f"{where}: expected a list of conditions, got {_describe(domain)}.")
    if len(domain) > MAX_DOMAIN_ELEMENTS:
        raise DomainError(f"{where}: too many elements ({len(domain)} > {MAX_DOMAIN_ELEMENTS}).")
    if depth > MAX_NESTING:
        raise DomainError(f"{where}: nested too deeply (more than {MAX_NESTING} levels).")
    if not domain:
        return None
    # Conditions first, in order, so the first faulty element is the one reported.
    nodes: list[Node | str] = []
    for index, element in enumerate(domain):
        label = f"{where}, element {index + 1}"
        if isinstance(element, str):
            if element not in LOGIC_OPERATORS:
                raise DomainError(
                    f'{label}: {element!r} is not a logic operator (use "&", "|" or "!").'
                )
            nodes.append(element)
        else:
            nodes.append(
                _validate_condition(
                    model_label, element, depth, f"{label} {_describe(element)}", virtual
                )
            )
    # Then the prefix structure, right to left with a stack (no recursion, so long Odoo-style
    # chains such as "|", "|", "|", a, b, c, d become one flat n-ary node).
    stack: list[Node] = []
    for index in range(len(nodes) - 1, -1, -1):
        node = nodes[index]
        if not isinstance(node, str):
            stack.append(node)
            continue
        arity = 1 if node == "!" else 2
        if len(stack) < arity:
            raise DomainError(
                f"{where}, element {index + 1}: {node!r} needs {arity} "
                f"operand{'s' if arity > 1 else ''}."
            )
        operands = [stack.pop() for _ in range(arity)]
        stack.append(_logic(node, operands))
    root = stack[0] if len(stack) == 1 else _logic("&", list(reversed(stack)))
    if _nesting(root) > MAX_NESTING:
        raise DomainError(f"{where}: nested too deeply (more than {MAX_NESTING} levels).")
    return root


def _logic(operator: str, operands: list[Node]) -> Logic:
    """A logic node; operands of the same "&"/"|" operator are merged into it."""
    if operator == "!":
        return Logic("!", tuple(operands))
    flat: list[Node] = []
    for operand in operands:
        if isinstance(operand, Logic) and operand.operator == operator:
            flat.extend(operand.operands)
        else:
            flat.append(operand)
    return Logic(operator, tuple(flat))


def _nesting(node: Node) -> int:
    """Depth of logic nesting (sub-domains of any/not_any are checked on their own)."""
    depth, level = 0, [(node, 0)]
    while level:
        current, d = level.pop()
        depth = max(depth, d)
        if isinstance(current, Logic):
            level.extend((child, d + 1) for child in current.operands)
    return depth


def _validate_condition(
    model_label: str, element: Any, depth: int, where: str, virtual: Target | None
) -> Condition:
    if not isinstance(element, list | tuple) or len(element) != 3:
        raise DomainError(f"{where}: a condition is a list [field, operator, value].")
    path_text, operator, value = element
    if not isinstance(path_text, str) or not path_text:
        raise DomainError(f"{where}: the field must be a non-empty text.")
    if not isinstance(operator, str) or operator not in ALL_OPERATORS:
        raise DomainError(f"{where}: unknown operator {operator!r}.")
    path = tuple(path_text.split("."))
    infos: list[FieldInfo] = []
    label = model_label
    for i, name in enumerate(path):
        fields = model_fields(label)
        if i == 0 and virtual is not None:
            fields = virtual.fields
        info = fields.get(name)
        if info is None:
            model_name = apps.get_model(label)._meta.verbose_name
            raise DomainError(f"{where}: unknown field {name!r} on {model_name}.")
        infos.append(info)
        if i < len(path) - 1:
            if not info.is_relation:
                raise DomainError(f"{where}: {name!r} is not a relation, it cannot be followed.")
            label = info.related
    relations = len(infos) - 1
    if relations + depth > MAX_RELATION_DEPTH:
        raise DomainError(
            f"{where}: relations can be followed {MAX_RELATION_DEPTH} levels deep at most."
        )
    last = infos[-1]
    allowed = OPERATORS_BY_KIND[last.kind]
    if last.kind == "selection" and last.value_type == "int":
        allowed = ORDER_OPERATORS  # ordered choices such as a lead's priority
    if operator not in allowed:
        raise DomainError(
            f"{where}: operator {operator!r} does not apply to {last.label.lower()} "
            f"({last.kind}); use one of {', '.join(sorted(allowed))}."
        )
    if operator in {"any", "not_any"}:
        if relations + depth + 1 > MAX_RELATION_DEPTH:
            raise DomainError(
                f"{where}: relations can be followed {MAX_RELATION_DEPTH} levels deep at most."
            )
        sub = _validate(
            last.related, value, depth + relations + 1, f"{where} → sub-filter", virtual=None
        )
        return Condition(path, tuple(infos), operator, sub, where)
    return Condition(
        path, tuple(infos), operator, _check_value(last, operator, value, where), where
    )


def _check_value(info: FieldInfo, operator: str, value: Any, where: str) -> Any:
    if operator in {"in", "not_in"}:
        if not isinstance(value, list):
            raise DomainError(f"{where}: {operator!r} needs a list of values.")
        if len(value) > MAX_IN_VALUES:
            raise DomainError(f"{where}: too many values (more than {MAX_IN_VALUES}).")
        # false/null in the list stands for "not set"
        return [
            None if v is None or v is False else _check_scalar(info, operator, v, where)
            for v in value
        ]
    if value is None or value is False and info.value_type != "bool":
        if operator not in {"=", "!="}:
            raise DomainError(f"{where}: 'not set' (false) can only be compared with = or !=.")
        return None
    if info.is_relation and operator in {"=", "!="} and value is True:
        return True  # "is set"
    return _check_scalar(info, operator, value, where)


def _check_scalar(info: FieldInfo, operator: str, value: Any, where: str) -> Any:
    kind = info.value_type
    bad = DomainError(f"{where}: {value!r} is not a valid {kind} value for {info.name!r}.")
    if isinstance(value, list | dict) and not (
        kind in {"date", "datetime"} and isinstance(value, dict)
    ):
        raise bad
    if kind == "char":
        if not isinstance(value, str):
            raise bad
        if len(value) > 1000:
            raise DomainError(f"{where}: the text is too long.")
        if "\x00" in value:
            raise DomainError(f"{where}: the text holds a NUL character.")
        choices = {k for k, _ in info.choices}
        if operator in {"=", "!=", "in", "not_in"} and choices and value not in choices:
            options = ", ".join(str(k) for k, _ in info.choices)
            raise DomainError(f"{where}: {value!r} is not one of {options}.")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        if abs(value) > 2**62:
            raise bad
        if info.choices and value not in {k for k, _ in info.choices}:
            raise DomainError(
                f"{where}: {value!r} is not one of {', '.join(str(k) for k, _ in info.choices)}."
            )
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise bad
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise bad
        if not number.is_finite() or abs(number) > Decimal(10) ** 12:
            raise bad
        return number
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad
        return value
    if kind in {"date", "datetime"}:
        return _check_date(kind, value, where, bad)
    raise bad


def _check_date(kind: str, value: Any, where: str, bad: DomainError) -> Any:
    if isinstance(value, dict):
        if set(value) != {"now"} or not isinstance(value["now"], str):
            raise DomainError(f'{where}: a relative date is written {{"now": "-7d"}}.')
        if not RELATIVE_DATE.match(value["now"]):
            raise DomainError(
                f'{where}: {value["now"]!r} is not a relative date like "-7d" (units h d w m).'
            )
        return {"now": value["now"].strip()}
    if not isinstance(value, str):
        raise bad
    try:
        parsed = dateparse.parse_datetime(value) or dateparse.parse_date(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise DomainError(f"{where}: {value!r} is not a date (use YYYY-MM-DD or an ISO datetime).")
    if kind == "date" and isinstance(parsed, dt.datetime):
        return parsed.date()
    if kind == "datetime" and not isinstance(parsed, dt.datetime):
        parsed = dt.datetime.combine(parsed, dt.time())
    if kind == "datetime" and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def resolve_relative(spec: str, now: dt.datetime) -> dt.datetime:
    """'-7d' -> now minus seven days (months by calendar)."""
    sign, amount, unit = RELATIVE_DATE.match(spec).groups()
    amount = -int(amount) if sign == "-" else int(amount)
    delta = {
        "h": relativedelta(hours=amount),
        "d": relativedelta(days=amount),
        "w": relativedelta(weeks=amount),
        "m": relativedelta(months=amount),
    }[unit]
    return now + delta


# --- compilation ------------------------------------------------------------------------------


def compile_domain(target: Target | str, domain: Any, now: dt.datetime | None = None) -> Q:
    """Validate and compile `domain` for `target` into a Q on the target model."""
    if isinstance(target, str):
        target = _target(target)
    node = validate_domain(target, domain)
    return compile_node(target, node, now or clock_now())


def compile_node(target: Target, node: Node, now: dt.datetime) -> Q:
    return _Compiler(target, now).node(target.model, node)


def filter_records(
    target: Target | str,
    domain: Any,
    include_archived: bool = False,
    now: dt.datetime | None = None,
) -> models.QuerySet:
    """The target's records matching `domain` (archived ones only with include_archived)."""
    if isinstance(target, str):
        target = _target(target)
    return target.base_queryset(include_archived).filter(compile_domain(target, domain, now))


def count_matching(
    target: Target | str,
    domain: Any,
    include_archived: bool = False,
    now: dt.datetime | None = None,
) -> int:
    return filter_records(target, domain, include_archived, now).count()


def combine_domains(*domains: list | None) -> list:
    """AND several domains into one (for applied filters: campaign AND activity ancestors).

    Consecutive top-level terms are AND-ed, so concatenating the domains is their AND."""
    result: list = []
    for domain in domains:
        if domain:
            result.extend(domain)
    return result


class _Compiler:
    def __init__(self, target: Target, now: dt.datetime) -> None:
        self.target = target
        self.now = now

    def node(self, model: type[models.Model], node: Node) -> Q:
        if node is None:
            return Q()
        if isinstance(node, Logic):
            parts = [self.node(model, n) for n in node.operands]
            if node.operator == "!":
                return ~parts[0]
            if node.operator == "&":
                return _and_all(parts)
            return _or_all(parts)
        return self._path(model, list(node.path), list(node.fields), node)

    def _path(
        self, model: type[models.Model], path: list[str], infos: list[FieldInfo], c: Condition
    ) -> Q:
        info = infos[0]
        if len(path) > 1:
            if info.is_to_many and c.operator in NEGATIVE_OPERATORS:
                positive = Condition(c.path, c.fields, POSITIVE_OF[c.operator], c.value, c.where)
                return ~self._exists(
                    model, info, self._path(info_model(info), path[1:], infos[1:], positive)
                )
            return self._exists(model, info, self._path(info_model(info), path[1:], infos[1:], c))
        return self._leaf(model, info, c)

    def _exists(self, model: type[models.Model], info: FieldInfo, sub: Q) -> Q:
        """Q on `model`: some record related through `info` satisfies `sub`."""
        related = info_model(info)
        if info.kind == "many2one":
            inner = related._default_manager.filter(sub, pk=OuterRef(info.name))
        else:
            inner = related._default_manager.filter(
                sub, **{_reverse_name(model, info): OuterRef("pk")}
            )
        return Q(Exists(inner))

    def _leaf(self, model: type[models.Model], info: FieldInfo, c: Condition) -> Q:
        op, value = c.operator, c.value
        if info.kind == "virtual":
            q = self._virtual(info)
            wanted = value if op == "=" else not value
            return q if wanted else ~q
        if info.is_relation:
            return self._relation_leaf(model, info, op, value)
        if isinstance(value, dict):
            value = resolve_relative(value["now"], self.now)
        name = info.name
        if op in {"=", "!="} and value is None:
            unset = Q(**{f"{name}__isnull": True}) if info.nullable else Q(pk__in=[])
            if info.value_type == "char":
                unset |= Q(**{name: ""})
            return unset if op == "=" else ~unset
        if op == "=":
            return Q(**{name: value})
        if op == "!=":
            return ~Q(**{name: value})
        if op in {">", ">=", "<", "<="}:
            lookup = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}[op]
            return Q(**{f"{name}__{lookup}": value})
        if op in {"in", "not_in"}:
            q = Q(**{f"{name}__in": [v for v in value if v is not None]})
            if None in value:
                q |= self._leaf(model, info, Condition(c.path, c.fields, "=", None, c.where))
            return q if op == "in" else ~q
        if op in {"like", "not_like"}:
            q = Q(GreaterThan(StrIndex(F(name), Value(value)), 0))
            if info.nullable:
                q &= Q(**{f"{name}__isnull": False})
            return q if op == "like" else ~q
        if op in {"ilike", "not_ilike"}:
            q = Q(**{f"{name}__icontains": value})
            return q if op == "ilike" else ~q
        if op == "=like":
            return Q(**{f"{name}__pattern_like": value})
        if op == "=ilike":
            return Q(**{f"{name}__pattern_ilike": value})
        raise DomainError(f"{c.where}: unsupported operator {op!r}.")

    def _relation_leaf(self, model: type[models.Model], info: FieldInfo, op: str, value: Any) -> Q:
        if op in {"any", "not_any"}:
            sub = self.node(info_model(info), value)
            q = self._exists(model, info, sub)
            return q if op == "any" else ~q
        if value is None or value is True:  # = false / != false / = true / != true
            q = self._exists(model, info, Q())
            is_set = (op == "=") == (value is True)
            return q if is_set else ~q
        ids = value if isinstance(value, list) else [value]
        ids = [v for v in ids if v is not None]
        if info.kind == "many2one":
            q = Q(**{f"{info.name}__in": ids})
        else:
            q = self._exists(model, info, Q(pk__in=ids))
        if isinstance(value, list) and None in value:
            q |= ~self._exists(model, info, Q())
        return q if op in {"=", "in"} else ~q

    def _virtual(self, info: FieldInfo) -> Q:
        from drumbeat.mailing.models import EmailBlacklist, PhoneBlacklist

        if info.name == "is_blacklisted":
            outer = Lower(Trim(OuterRef(self.target.email_field)))
            return Q(Exists(EmailBlacklist.objects.filter(email=outer, active=True)))
        outer = OuterRef(self.target.phone_field)
        return Q(Exists(PhoneBlacklist.objects.filter(number=outer, active=True)))


def _and_all(parts: list[Q]) -> Q:
    result = Q()
    for p in parts:
        result &= p
    return result


def _or_all(parts: list[Q]) -> Q:
    result = parts[0]
    for p in parts[1:]:
        result |= p
    return result


def info_model(info: FieldInfo) -> type[models.Model]:
    return apps.get_model(info.related)


def _reverse_name(model: type[models.Model], info: FieldInfo) -> str:
    """The lookup on the related model that points back at `model` through `info`."""
    f = model._meta.get_field(info.name)
    if isinstance(f, models.ForeignObjectRel):
        return f.field.name  # the forward FK or M2M declared on the related model
    return f.related_query_name()


# --- pattern lookups: Odoo's =like (case-sensitive) and =ilike on both databases --------------


@models.CharField.register_lookup
class PatternLike(models.Lookup):
    """SQL LIKE with the user's own % and _ wildcards (no escape character), case-sensitive
    on every database."""

    lookup_name = "pattern_like"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        if connection.vendor == "sqlite":
            # SQLite's LIKE ignores ASCII case; GLOB does not.
            return f"{lhs} GLOB {rhs}", [*lhs_params, *[_like_to_glob(p) for p in rhs_params]]
        # ESCAPE '': a backslash is an ordinary character, as in SQLite's GLOB
        return f"{lhs}::text LIKE {rhs} ESCAPE ''", [*lhs_params, *rhs_params]


@models.CharField.register_lookup
class PatternILike(models.Lookup):
    lookup_name = "pattern_ilike"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        if connection.vendor == "postgresql":
            return f"{lhs}::text ILIKE {rhs} ESCAPE ''", [*lhs_params, *rhs_params]
        return f"LOWER({lhs}) LIKE LOWER({rhs})", [*lhs_params, *rhs_params]


def _like_to_glob(pattern: str) -> str:
    out = []
    for ch in pattern:
        if ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
    return "".join(out)
