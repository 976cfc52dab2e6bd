"""Property tests of the filter language.

1. Random valid domains over the registry compile, and the number of records the SQL finds
   equals what a plain Python evaluation of the documented semantics finds on a small
   generated data set (on SQLite and, in the second pass, PostgreSQL).
2. Random malformed domains raise DomainError and nothing else.

Strings are ASCII: SQLite's LIKE and LOWER() fold ASCII case only (documented).
Examples per test: a modest number by default; HYPOTHESIS_PROFILE=nightly runs many more.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drumbeat.accounts.models import User
from drumbeat.automation.domains import (
    NEGATIVE_OPERATORS,
    OPERATORS_BY_KIND,
    ORDER_OPERATORS,
    POSITIVE_OF,
    DomainError,
    Logic,
    Node,
    count_matching,
    resolve_relative,
    validate_domain,
)
from drumbeat.automation.targets import (
    MAX_RELATION_DEPTH,
    FieldInfo,
    all_targets,
    get_target,
    model_fields,
)
from drumbeat.contacts.models import Contact, Tag
from drumbeat.crm.models import Lead, Stage
from drumbeat.events.models import Event, Registration
from drumbeat.lib.normalize import normalize_email
from drumbeat.mailing.models import (
    EmailBlacklist,
    MailingContact,
    MailingList,
    PhoneBlacklist,
    Subscription,
)

_common = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
}
settings.register_profile("drumbeat-ci", max_examples=60, **_common)
settings.register_profile("nightly", max_examples=1500, **_common)
PROFILE = settings.get_profile(
    "nightly" if os.environ.get("HYPOTHESIS_PROFILE") == "nightly" else "drumbeat-ci"
)

NOW = dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.UTC)
WORDS = ["Ann", "ann", "ANN", "Bob", "bo", "Cy", "Dee", "x_5", "50%", "a b", "Acme", ""]
FRAGMENTS = ["a", "A", "n", "e", "%", "_", "b", "x", "5", " ", "Ac", "nn"]
DIGITS = "0123456789"


# --- a small data set ---------------------------------------------------------------------------


def _text(rng: random.Random) -> str:
    return rng.choice(WORDS) + rng.choice(["", "", rng.choice(FRAGMENTS)])


def build_data_set() -> None:
    rng = random.Random(20260315)
    users = [
        User.objects.create(username=u, first_name=f, email=f"{u}@example.com")
        for u, f in [("sofia", "Sofia"), ("james", "James"), ("lena", "")]
    ]
    tags = [Tag.objects.create(name=n) for n in ["VIP", "vip2", "Customer", "a_b", "50%"]]
    stages = [
        Stage.objects.create(name=n, sequence=s, is_won=w)
        for n, s, w in [("New", 10, False), ("Qualified", 20, False), ("Won", 30, True)]
    ]
    emails = [f"{w}@example.com" for w in ["ann", "bob", "cy", "dee", "eve"]] + ["", "Ann@X.org"]
    phones = ["", "+32470000001", "+32470000002", "+33612345678"]
    contacts = []
    for i in range(18):
        contact = Contact.objects.create(
            name=_text(rng) or f"Person {i}",
            email=rng.choice(emails),
            phone=rng.choice(phones),
            company_name=_text(rng),
            country=rng.choice(["", "BE", "FR", "be"]),
            city=rng.choice(["", "Gent", "gent", "Paris"]),
            salesperson=rng.choice([None, *users]),
            active=rng.random() > 0.2,
            created_at=NOW - dt.timedelta(hours=rng.randint(0, 24 * 120)),
        )
        contact.tags.set(rng.sample(tags, rng.randint(0, 3)))
        contacts.append(contact)
    for i in range(14):
        lead = Lead.objects.create(
            title=_text(rng) or f"Deal {i}",
            contact=rng.choice([None, None, *contacts]),
            contact_name=_text(rng),
            email=rng.choice(emails),
            phone=rng.choice(phones),
            salesperson=rng.choice([None, *users]),
            priority=rng.randint(0, 3),
            stage=rng.choice([None, *stages]),
            expected_revenue=Decimal(rng.choice([0, 100, 999, 1000, 2500])),
            active=rng.random() > 0.2,
            created_at=NOW - dt.timedelta(hours=rng.randint(0, 24 * 120)),
        )
        lead.tags.set(rng.sample(tags, rng.randint(0, 2)))
    events = [
        Event.objects.create(
            name=n, date_begin=NOW + dt.timedelta(days=d), date_end=NOW + dt.timedelta(days=d)
        )
        for n, d in [("Summit", 10), ("Webinar", -5)]
    ]
    states = [s for s, _ in Registration.State.choices]
    for _ in range(10):
        Registration.objects.create(
            event=rng.choice(events),
            name=_text(rng) or "Guest",
            email=rng.choice(emails),
            phone=rng.choice(phones),
            contact=rng.choice([None, *contacts]),
            state=rng.choice(states),
            created_at=NOW - dt.timedelta(hours=rng.randint(0, 24 * 60)),
        )
    lists = [MailingList.objects.create(name=n) for n in ["Newsletter", "Customers"]]
    for i in range(10):
        mc = MailingContact.objects.create(
            name=_text(rng),
            email=rng.choice(emails) or f"m{i}@example.com",
            phone=rng.choice(phones),
            country=rng.choice(["", "BE", "FR"]),
            created_at=NOW - dt.timedelta(hours=rng.randint(0, 24 * 60)),
        )
        mc.tags.set(rng.sample(tags, rng.randint(0, 2)))
        for ml in rng.sample(lists, rng.randint(0, 2)):
            out = rng.random() < 0.3
            Subscription.objects.create(
                contact=mc,
                list=ml,
                opt_out=out,
                opt_out_at=NOW - dt.timedelta(days=rng.randint(0, 30)) if out else None,
                confirmed=rng.random() < 0.5,
            )
    EmailBlacklist.objects.create(email="bob@example.com")
    EmailBlacklist.objects.create(email="ann@x.org")
    EmailBlacklist.objects.create(email="cy@example.com", active=False)
    PhoneBlacklist.objects.create(number="+32470000001")
    PhoneBlacklist.objects.create(number="+33612345678", active=False)


# --- the plain Python evaluator -----------------------------------------------------------------


class World:
    """Every filterable row as a dict: scalars as values, relations as lists of ids."""

    def __init__(self) -> None:
        from django.apps import apps

        self.rows: dict[str, dict[int, dict[str, Any]]] = {}
        for label in {info_label for info_label in _labels()}:
            model = apps.get_model(label)
            fields = model_fields(label)
            table = {}
            for obj in model._default_manager.all():
                row: dict[str, Any] = {}
                for name, info in fields.items():
                    if info.kind == "many2one":
                        related_id = getattr(obj, f"{name}_id")
                        row[name] = [related_id] if related_id is not None else []
                    elif info.is_to_many:
                        row[name] = list(getattr(obj, name).values_list("pk", flat=True))
                    else:
                        row[name] = getattr(obj, name)
                table[obj.pk] = row
            self.rows[label] = table
        self.blacklisted_emails = set(
            EmailBlacklist.objects.filter(active=True).values_list("email", flat=True)
        )
        self.blacklisted_phones = set(
            PhoneBlacklist.objects.filter(active=True).values_list("number", flat=True)
        )

    def count(self, target_key: str, node: Node, include_archived: bool) -> int:
        target = get_target(target_key)
        total = 0
        for pk, row in self.rows[target.key].items():
            if target.active_field and not include_archived and not row[target.active_field]:
                continue
            if self.matches(target.key, pk, node, top=target_key):
                total += 1
        return total

    def matches(self, label: str, pk: int, node: Node, top: str | None = None) -> bool:
        if node is None:
            return True
        if isinstance(node, Logic):
            results = [self.matches(label, pk, n, top) for n in node.operands]
            if node.operator == "!":
                return not results[0]
            return all(results) if node.operator == "&" else any(results)
        return self.condition(label, pk, list(node.fields), node.operator, node.value, top)

    def condition(
        self, label: str, pk: int, infos: list[FieldInfo], op: str, value: Any, top: str | None
    ) -> bool:
        info, row = infos[0], self.rows[label][pk]
        if len(infos) > 1:
            related = row[info.name]
            if info.is_to_many and op in NEGATIVE_OPERATORS:
                positive = POSITIVE_OF[op]
                return not any(
                    self.condition(info.related, r, infos[1:], positive, value, None)
                    for r in related
                )
            return any(self.condition(info.related, r, infos[1:], op, value, None) for r in related)
        if info.kind == "virtual":
            target = get_target(top)
            if info.name == "is_blacklisted":
                fact = normalize_email(row[target.email_field]) in self.blacklisted_emails
            else:
                fact = row[target.phone_field] in self.blacklisted_phones
            return fact == value if op == "=" else fact != value
        if info.is_relation:
            related = row[info.name]
            if op in {"any", "not_any"}:
                found = any(self.matches(info.related, r, value) for r in related)
                return found if op == "any" else not found
            if value is None or value is True:
                is_set = bool(related)
                return is_set == ((op == "=") == (value is True))
            ids = value if isinstance(value, list) else [value]
            found = any(r in ids for r in related)
            if isinstance(value, list) and None in value and not related:
                found = True
            return found if op in {"=", "in"} else not found
        return self.leaf(info, row[info.name], op, value)

    def leaf(self, info: FieldInfo, actual: Any, op: str, value: Any) -> bool:
        if isinstance(value, dict):
            value = resolve_relative(value["now"], NOW)
        unset = actual is None or actual == ""
        if op in {"=", "!="} and value is None:
            return unset if op == "=" else not unset
        if op == "=":
            return actual is not None and actual == value
        if op == "!=":
            return not (actual is not None and actual == value)
        if op in {">", ">=", "<", "<="}:
            if actual is None:
                return False
            return {
                ">": actual > value,
                ">=": actual >= value,
                "<": actual < value,
                "<=": actual <= value,
            }[op]
        if op in {"in", "not_in"}:
            found = actual in [v for v in value if v is not None] or (None in value and unset)
            return found if op == "in" else not found
        if op in {"like", "not_like"}:
            found = value in actual
            return found if op == "like" else not found
        if op in {"ilike", "not_ilike"}:
            found = value.lower() in actual.lower()
            return found if op == "ilike" else not found
        pattern = "".join(
            ".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in value
        )
        flags = re.DOTALL | (re.IGNORECASE if op == "=ilike" else 0)
        return re.fullmatch(pattern, actual, flags) is not None


def _labels() -> set[str]:
    labels = set()
    for target in all_targets():
        stack = [target.key]
        while stack:
            label = stack.pop()
            if label in labels:
                continue
            labels.add(label)
            stack.extend(i.related for i in model_fields(label).values() if i.related)
    return labels


# --- strategies of valid domains ------------------------------------------------------------------


def operators_for(info: FieldInfo) -> list[str]:
    allowed = OPERATORS_BY_KIND[info.kind]
    if info.kind == "selection" and info.value_type == "int":
        allowed = ORDER_OPERATORS
    return sorted(allowed)


def scalar_values(info: FieldInfo, op: str) -> st.SearchStrategy:
    kind = info.value_type
    if info.choices:
        return st.sampled_from([k for k, _ in info.choices])
    if kind == "char":
        if op in {"like", "not_like", "ilike", "not_ilike", "=like", "=ilike"}:
            return st.text(
                alphabet="".join(sorted(set("".join(FRAGMENTS)))), max_size=3
            ) | st.sampled_from(WORDS)
        return st.sampled_from(
            [*WORDS, "BE", "be", "FR", "Gent", "VIP", "New", "Won", "Summit", "sofia"]
            + ["ann@example.com", "bob@example.com", "+32470000001", "Newsletter"]
        )
    if kind == "int":
        return st.integers(min_value=-1, max_value=60)
    if kind == "float":
        return st.sampled_from([0, 100, 999.5, 1000, "2500", -1])
    if kind == "bool":
        return st.booleans()
    hours = st.integers(min_value=-24 * 130, max_value=24 * 20)
    relative = st.builds(
        lambda n, unit: {"now": f"{n}{unit}"},
        st.integers(min_value=-130, max_value=20),
        st.sampled_from("hdwm"),
    )
    absolute = hours.map(lambda h: (NOW + dt.timedelta(hours=h)).isoformat())
    return relative | absolute


def value_for(info: FieldInfo, op: str, label: str, budget: int) -> st.SearchStrategy:
    if op in {"any", "not_any"}:
        return domains(info.related, budget, virtual_target=None)
    if info.is_relation:
        ids = st.integers(min_value=1, max_value=25)
        if op in {"in", "not_in"}:
            return st.lists(ids | st.just(False), max_size=4)
        return ids | st.sampled_from([False, True])
    if op in {"in", "not_in"}:
        return st.lists(scalar_values(info, "=") | st.just(False), max_size=4)
    if op in {"=", "!="} and info.kind != "bool" and info.kind != "virtual":
        return scalar_values(info, op) | st.just(False)
    return scalar_values(info, op)


@st.composite
def conditions(draw, label: str, budget: int, virtual_target: str | None) -> list:
    """[path, operator, value] on model `label`, following at most `budget` relations."""
    path: list[str] = []
    while True:
        fields = dict(model_fields(label))
        if not path and virtual_target is not None:
            fields = get_target(virtual_target).fields
        name = draw(st.sampled_from(sorted(fields)))
        info = fields[name]
        path.append(name)
        if info.is_relation and budget > 0 and draw(st.booleans()):
            label, budget = info.related, budget - 1
            virtual_target = None
            continue
        break
    ops = operators_for(info)
    if budget == 0:
        ops = [o for o in ops if o not in {"any", "not_any"}]
    op = draw(st.sampled_from(ops))
    value = draw(value_for(info, op, label, budget - 1))
    return [".".join(path), op, value]


def domains(label: str, budget: int, virtual_target: str | None) -> st.SearchStrategy:
    leaf = conditions(label, budget, virtual_target)
    tree = st.recursive(
        leaf.map(lambda c: [c]),
        lambda inner: st.one_of(
            inner.map(lambda d: ["!", *d]),
            st.tuples(st.sampled_from(["&", "|"]), inner, inner).map(
                lambda t: [t[0], *t[1], *t[2]]
            ),
        ),
        max_leaves=4,
    )
    return st.lists(tree, max_size=3).map(lambda parts: [e for p in parts for e in p])


@st.composite
def target_and_domain(draw):
    target = draw(st.sampled_from(sorted(t.key for t in all_targets())))
    domain = draw(domains(target, MAX_RELATION_DEPTH, virtual_target=target))
    return target, domain, draw(st.booleans())


# --- the properties -------------------------------------------------------------------------------


@pytest.fixture
def world(db) -> World:
    build_data_set()
    return World()


@pytest.mark.postgres
@settings(PROFILE)
@given(case=target_and_domain())
def test_sql_and_python_agree_on_random_valid_domains(world, case):
    target, domain, include_archived = case
    node = validate_domain(target, domain)

    expected = world.count(target, node, include_archived)
    found = count_matching(target, domain, include_archived=include_archived, now=NOW)

    assert found == expected, domain


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)
field_names = st.sampled_from(
    ["name", "email", "tags", "tags.name", "leads.priority", "salesperson.username", "created_at"]
    + ["is_blacklisted", "active", "id", "nope", "name.x", "", "leads.contact.leads.contact.name"]
)
operators = st.sampled_from(sorted(OPERATORS_BY_KIND["char"] | {"any", ">", "<=", "~", "", "="}))
near_conditions = st.lists(
    st.one_of(
        st.tuples(field_names, operators, json_values).map(list),
        st.sampled_from(["&", "|", "!", "&&", "or"]),
        json_values,
    ),
    max_size=6,
)


@pytest.mark.postgres
@settings(PROFILE)
@given(domain=json_values | near_conditions)
def test_malformed_domains_raise_domain_error_and_nothing_else(db, domain):
    try:
        validate_domain("contacts.contact", domain)
    except DomainError:
        return
    # what validates must also run
    count_matching("contacts.contact", domain, now=NOW)


@settings(PROFILE)
@given(domain=st.text(max_size=60) | st.binary(max_size=60))
def test_malformed_json_text_raises_domain_error(domain):
    with contextlib.suppress(DomainError):
        validate_domain("contacts.contact", domain)
