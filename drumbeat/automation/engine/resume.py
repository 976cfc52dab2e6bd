"""Where the next claim of an activity's due traces starts reading, on PostgreSQL.

Due traces are claimed oldest first from the partial index `trace_activity_due` (activity,
due date, id; scheduled traces only). PostgreSQL keeps the entry of a claimed trace in that
index until VACUUM removes it, and a claim that reads the index from its start steps over
every entry claimed since: the k-th batch of a drain over k x batch dead entries, a drain of
N traces in batches of B over about N²/2B of them. Measured on 1,000,000 due traces in
batches of 5,000: the 100th claim took 37 ms to reach its first live row, and the drain's
claims 21 s where 10 s were writes. (SQLite deletes the entries at once: nothing to skip.)

So on PostgreSQL a claim that filled its batch remembers where it stopped (the due date and
id of its last row, in claim order), and the next claim of the same activity in this process
starts there: one index descent. When the rows after that point do not fill the batch, the
same claim tops the batch up from the start of the index, where a trace due earlier may have
appeared since (re-dated by a workflow Update, a retry, a recovered lease): the point only
saves reading, it never hides a due trace from a claim — every claim still takes
min(batch, due traces) rows. A point is used for LIFETIME seconds at most: while due traces
keep coming past it faster than the batches take them, a trace due before it still waits no
longer than that (one walk from the start a minute costs nothing next to the drain). The
points live in this process only (per database and activity); a point left by another run, or
a stale one, costs one short statement.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from django.db import connection

# SQL over the claim's trace alias `t`: past the remembered point, in claim order.
AFTER = "(t.scheduled_at, t.id) > (%s, %s)"
# The last row of a CTE of claimed traces (scheduled_at, id), in claim order.
LAST_OF = "SELECT scheduled_at, id FROM {cte} ORDER BY scheduled_at DESC, id DESC LIMIT 1"

Point = tuple[datetime, int]
# take(condition, params, n): claim up to n due traces that also match `condition` (with its
# `params`); returns how many it took and the (scheduled_at, id) of its last one in claim order.
Take = Callable[[str, list, int], tuple[int, Point | None]]

LIFETIME = 60.0  # seconds a point is used before a claim reads from the start again

# (database, activity) → (point, monotonic time it was first set in this run of full batches)
_points: dict[tuple[str, int], tuple[Point, float]] = {}


def claim_in_order(activity_id: int, limit: int, take: Take) -> int:
    """Claim up to `limit` due traces of the activity through `take`, starting past the point
    the previous full claim of this activity stopped at (PostgreSQL); returns how many."""
    if connection.vendor != "postgresql":
        return take("TRUE", [], limit)[0]
    key = (connection.settings_dict["NAME"], activity_id)
    point, since = _points.pop(key, (None, time.monotonic()))
    if time.monotonic() - since > LIFETIME:
        point, since = None, time.monotonic()
    taken, last = 0, None
    if point is not None:
        taken, last = take(AFTER, list(point), limit)
    if taken < limit:  # the rows past the point are all taken: the start of the index
        more, last = take("TRUE", [], limit - taken)
        taken += more
    if taken == limit and last is not None:
        _points[key] = (last, since)
    return taken
