from datetime import UTC, date, datetime

import pytest

from drumbeat.automation import metrics
from drumbeat.automation.models import Participant, Trace

from .fixtures import add_action, make_campaign

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def action(db):
    return add_action(make_campaign())


def trace_at(activity, executed_at: datetime, state: str = "processed", is_test: bool = False):
    record_id = Participant.objects.count() + 1
    participant = Participant.objects.create(
        campaign=activity.campaign, record_id=record_id, is_test=is_test
    )
    return Trace.objects.create(
        participant=participant,
        activity=activity,
        state=state,
        executed_at=executed_at,
        is_test=is_test,
    )


def test_the_daily_series_follows_the_configured_time_zone(settings, action):
    settings.TIME_ZONE = "Pacific/Auckland"  # UTC+13 in March
    trace_at(action, datetime(2026, 3, 1, 20, 0, tzinfo=UTC))  # 2 March, 09:00 in Auckland
    now = datetime(2026, 3, 1, 21, 0, tzinfo=UTC)  # 2 March, 10:00 in Auckland

    daily = metrics.activity_metrics(action.campaign, now)[action.pk].daily

    assert len(daily) == metrics.DAYS
    assert daily[-1] == (date(2026, 3, 2), 1, 0)


def test_test_traces_count_only_when_asked(action):
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    trace_at(action, at)
    trace_at(action, at, is_test=True)
    trace_at(action, at, state="rejected")

    figures = metrics.activity_metrics(action.campaign, at)[action.pk]
    assert (figures.processed, figures.rejected) == (1, 1)
    assert metrics.participants_concerned(action, "processed").count() == 1
    assert metrics.participants_concerned(action, "processed", include_tests=True).count() == 2
    with pytest.raises(ValueError):
        metrics.participants_concerned(action, "liked")
