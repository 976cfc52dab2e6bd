"""Concurrent runners never claim the same trace (PostgreSQL: FOR UPDATE SKIP LOCKED).

PostgreSQL only: SQLite's test database is a shared-cache in-memory database whose table locks
ignore busy_timeout, unlike the WAL file the product uses (where BEGIN IMMEDIATE serialises
the claims).
"""

import threading

import pytest
from django.db import connection

from drumbeat.automation import services
from drumbeat.automation.engine.execute import claim_due
from drumbeat.automation.models import Trace

from .fixtures import START, add_action, make_campaign, make_contacts, make_user


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_claims_take_disjoint_batches():
    bob = make_user("bob")
    make_contacts(300)
    campaign = make_campaign(bob)
    activity = add_action(campaign)
    services.start_campaign(campaign, bob)
    results: list[list[int]] = []
    errors: list[Exception] = []
    barrier = threading.Barrier(3)

    def claim() -> None:
        try:
            barrier.wait()
            results.append(claim_due(activity, START.replace(year=2100), 120).trace_ids)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    claimed = [i for batch in results for i in batch]
    assert len(claimed) == len(set(claimed)) == 300
    assert Trace.objects.filter(activity=activity, state="processing").count() == 300
