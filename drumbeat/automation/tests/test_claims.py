"""Concurrent runners never claim the same trace (PostgreSQL: FOR UPDATE SKIP LOCKED).

PostgreSQL only: SQLite's test database is a shared-cache in-memory database whose table locks
ignore busy_timeout, unlike the WAL file the product uses (where BEGIN IMMEDIATE serialises
the claims).
"""

import pytest

from drumbeat.automation import services
from drumbeat.automation.engine.execute import claim_due
from drumbeat.automation.models import Trace

from .fixtures import START, add_action, make_campaign, make_contacts, make_user, run_together


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_claims_take_disjoint_batches():
    bob = make_user("bob")
    make_contacts(300)
    campaign = make_campaign(bob)
    activity = add_action(campaign)
    services.start_campaign(campaign, bob)
    results: list[list[int]] = []

    def claim() -> None:
        results.append(claim_due(activity, START.replace(year=2100), 120).trace_ids)

    assert run_together(claim, 3, timeout=60) == []
    claimed = [i for batch in results for i in batch]
    assert len(claimed) == len(set(claimed)) == 300
    assert Trace.objects.filter(activity=activity, state="processing").count() == 300
