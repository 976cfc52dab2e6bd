"""insert_rows: every value arrives as the ORM would have written it, on both databases
(SQLite: executemany; PostgreSQL: COPY), including values repeated from row to row (converted
once) and JSON, text with tabs and newlines, NULLs and aware datetimes."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from drumbeat.automation.models import WebhookDelivery, WebhookEndpoint
from drumbeat.mailing.bulk import insert_rows


@pytest.mark.django_db
@pytest.mark.postgres
def test_rows_inserted_in_one_statement_read_back_as_written():
    endpoint = WebhookEndpoint.objects.create(url="https://crm.example.com/hook")
    paris = timezone(timedelta(hours=1))
    same_instant = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    rows = [
        WebhookDelivery(
            endpoint=endpoint,
            event="participant.completed",
            payload={"n": n, "text": "tab\there\nnew line, back\\slash", "list": [1, None]},
            attempts=n % 2,
            last_status=None if n % 3 else 200,
            last_error="" if n % 2 else "timed out\t(30 s)",
            # the same instant written in two zones, then a different one: converted apart
            created_at=same_instant if n < 2 else same_instant.astimezone(paris),
            next_attempt_at=same_instant + timedelta(minutes=n) if n == 3 else None,
        )
        for n in range(4)
    ]
    insert_rows(WebhookDelivery, rows)
    stored = list(
        WebhookDelivery.objects.order_by("pk").values_list(
            "payload", "attempts", "last_status", "last_error", "created_at", "next_attempt_at"
        )
    )
    assert stored == [
        (
            {"n": n, "text": "tab\there\nnew line, back\\slash", "list": [1, None]},
            n % 2,
            None if n % 3 else 200,
            "" if n % 2 else "timed out\t(30 s)",
            same_instant,
            same_instant + timedelta(minutes=3) if n == 3 else None,
        )
        for n in range(4)
    ]
