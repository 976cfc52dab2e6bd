"""Benchmark case `actions`: every kind of server action a marketer can put in a workflow, run
by the engine on the due traces of a campaign, next to hand-written SQL doing the same to the
same records: `python -m bench.cases_actions actions SIZE` (run by run.py like cases.py).

The bulk cases of cases.py measure the two set-based actions the goals name; this one covers
the others too, those rendered per record (a templated value, a created record) and those
that match records to mailing contacts or the blacklist by address, where a plan that reads
a whole table per record turns a campaign of 100,000 into hours. Up to CAP contacts (the
first ones by id: a campaign filtered on `id`), whatever SIZE. The fields set are the
company's (no other case selects on it: the email, Celery and recovery cases pick their
contacts by city), and what the blacklisting does the unblacklisting undoes.

Each raw statement runs in a transaction rolled back, before the product (which then finds
the records as they were); on PostgreSQL with its constraints checked at once, as the
product's commit checks them.
"""

from __future__ import annotations

import os
import sys
from datetime import date

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drumbeat.settings")
django.setup()

from django.contrib.contenttypes.models import ContentType  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from bench.cases import (  # noqa: E402
    Contact,
    ServerAction,
    add_activity,
    db_now,
    drain,
    make_campaign,
    result,
    start,
    table,
    timed,
)
from bench.common import emit  # noqa: E402
from drumbeat.automation.engine.enroll import enroll_campaign  # noqa: E402
from drumbeat.crm.models import Lead  # noqa: E402
from drumbeat.mailing.models import (  # noqa: E402
    EmailBlacklist,
    MailingContact,
    MailingList,
    Subscription,
)
from drumbeat.timeline.models import Note, Task  # noqa: E402

CAP = 100_000


class _RolledBack(Exception):
    pass


def raw_rows(statements: list[tuple[str, list]]) -> tuple[int, float]:
    """The statements' time and the rows the first changed, in a transaction rolled back."""
    rows, seconds = 0, 0.0

    def run() -> int:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            counts = []
            for sql, params in statements:
                cursor.execute(sql, params)
                counts.append(cursor.rowcount)
            return counts[0]

    try:
        with transaction.atomic():
            rows, seconds = timed(run)
            raise _RolledBack
    except _RolledBack:
        pass
    return rows, seconds


def kinds(last_id: int, newsletter: MailingList) -> list[tuple[str, str, dict, list]]:
    """(label, action kind, its params, the raw statements of the same effect) in run order:
    removing and unblacklisting follow what adding and blacklisting did."""
    contacts, now = table(Contact), db_now()
    upto = f"FROM {contacts} WHERE id <= %s"
    content_type = ContentType.objects.get_for_model(Contact).pk
    due = date.today().isoformat()
    mailing, blacklist = table(MailingContact), table(EmailBlacklist)
    return [
        (
            "set a field",
            "update_record",
            {"field": "company_name", "value": "Namur"},
            [(f"UPDATE {contacts} SET company_name = 'Namur' WHERE id <= %s", [last_id])],
        ),
        (
            "set a field from a template",
            "update_record",
            {"field": "company_name", "value": "{{ record.name }} town"},
            [(f"UPDATE {contacts} SET company_name = name || ' town' WHERE id <= %s", [last_id])],
        ),
        (
            "create a task",
            "create_activity",
            {"activity_type": "call", "summary": "Call back", "due_amount": 2, "due_unit": "days"},
            [
                (
                    f"INSERT INTO {table(Task)} (content_type_id, object_id, kind, summary, note,"
                    f" due_date, done, created_at) SELECT %s, id, 'call', 'Call back', '', %s,"
                    f" %s, %s {upto}",
                    [content_type, due, False, now, last_id],
                )
            ],
        ),
        (
            "post a note from a template",
            "post_note",
            {"body": "Hello {{ record.name }}"},
            [
                (
                    f"INSERT INTO {table(Note)} (content_type_id, object_id, body, created_at)"
                    f" SELECT %s, id, 'Hello ' || name, %s {upto}",
                    [content_type, now, last_id],
                )
            ],
        ),
        (
            "add to a mailing list",
            "add_to_list",
            {"list_id": newsletter.pk},
            [
                (
                    f"INSERT INTO {mailing} (name, email, phone, company_name, country,"
                    f" time_zone, created_at) SELECT name, lower(trim(email)), phone,"
                    f" company_name, country, '', %s {upto}",
                    [now, last_id],
                ),
                (
                    f"INSERT INTO {table(Subscription)} (contact_id, list_id, opt_out,"
                    f" opt_out_reason, confirmed, created_at) SELECT id, %s, %s, '', %s, %s"
                    f" FROM {mailing}",
                    [newsletter.pk, False, False, now],
                ),
            ],
        ),
        (
            "remove from a mailing list",
            "remove_from_list",
            {"list_id": newsletter.pk},
            [(f"DELETE FROM {table(Subscription)} WHERE list_id = %s", [newsletter.pk])],
        ),
        (
            "blacklist the email address",
            "blacklist_email",
            {"reason": "asked"},
            [
                (
                    f"INSERT INTO {blacklist} (email, reason, active, created_at, updated_at)"
                    f" SELECT lower(trim(email)), 'asked', %s, %s, %s {upto}",
                    [True, now, now, last_id],
                )
            ],
        ),
        (
            "unblacklist the email address",
            "unblacklist_email",
            {"reason": "back"},
            [
                (
                    f"UPDATE {blacklist} SET active = %s, reason = 'back', updated_at = %s",
                    [False, now],
                )
            ],
        ),
        (
            "create a lead",
            "create_record",
            {
                "model": "crm.lead",
                "values": {"title": "Lead for {{ record.name }}", "priority": 2, "tags": []},
                "link_field": "contact",
            },
            [
                (
                    f"INSERT INTO {table(Lead)} (title, contact_name, email, phone, priority,"
                    f" expected_revenue, active, time_zone, created_at, contact_id)"
                    f" SELECT 'Lead for ' || name, '', '', '', 2, 0, %s, '', %s, id {upto}",
                    [True, now, last_id],
                )
            ],
        ),
    ]


def case_actions(size: int) -> None:
    n = min(size, CAP)
    last_id = Contact.objects.order_by("id").values_list("id", flat=True)[n - 1]
    newsletter = MailingList.objects.create(name="Bench newsletter")
    rows = []
    for label, kind, params, statements in kinds(last_id, newsletter):
        raw_n, raw_s = raw_rows(statements)
        action = ServerAction.objects.create(
            name=label, target="contacts.contact", kind=kind, params=params
        )
        campaign = make_campaign(f"Bench: {label}", "contacts.contact", [["id", "<=", last_id]])
        activity = add_activity(campaign, kind="action", server_action=action)
        start(campaign)
        assert enroll_campaign(campaign).enrolled == n
        done, product_s = timed(drain, activity)
        assert done == n, (label, done)
        rows.append(
            result(
                "actions",
                f'Server action "{label}" on {n:,} due traces',
                "traces/s",
                done,
                product_s,
                raw_n,
                raw_s,
                "the same change in SQL",
            )
        )
    emit({"rows": rows})


CASES = {"actions": case_actions}

if __name__ == "__main__":
    CASES[sys.argv[1]](int(sys.argv[2]))
