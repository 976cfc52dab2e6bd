"""Leases on claimed batches: a batch is taken over only when its worker is gone.

A batch of traces is claimed (execute.py) with a random claim id (`Trace.claim_id`) and a lease
(`claim_expires_at` = now + `DRUMBEAT_LEASE_SECONDS`, default 30). While the worker works on the
batch (rendering, a slow SMTP conversation, a webhook waiting between retries) a heartbeat
thread renews the lease every quarter of its length, so the lease runs out only when its holder
is gone: killed, frozen, or cut off from the database. The next pass's `recover_leases` then
settles the batch under a claim id of its own.

A holder that lost its lease acts no more for the batch:

- before each send it asks `may_send()`: yes while the monotonic clock is before its local
  deadline (the moment just before its last successful renewal, plus three quarters of the
  lease, so it stops well before anyone else may take over). A process frozen (SIGSTOP) or cut
  off past that point asks the database once more (a renewal) and stops for good when its
  claim is gone or cannot be confirmed;
- it writes for the batch only inside `holding(ids)`: one transaction that first locks the
  batch's rows still carrying its claim id (`SELECT … FOR UPDATE`). A recovery that took rows
  over gave them its own claim id, so they are not held, the lease counts as lost and the
  caller writes nothing.

A claim made inside an enclosing transaction (a test's) is invisible to other workers until that
transaction commits: it gets no heartbeat and its deadline never passes.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from drumbeat.lib import clock

from ..models import Trace
from .sql import id_set

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)  # the default of DRUMBEAT_LEASE_SECONDS
HEARTBEAT = 0.25  # renewals every quarter of the lease
MARGIN = 0.25  # the holder stops sending this share of the lease before it could expire


def lease_length() -> timedelta:
    seconds = int(getattr(settings, "LEASE_SECONDS", 0) or LEASE.total_seconds())
    return timedelta(seconds=max(5, seconds))


def new_claim_id() -> int:
    return secrets.randbits(62) + 1  # positive, fits a BIGINT


class Lease:
    """The lease on one claimed batch (see the module docstring); a context manager that runs
    the heartbeat while the batch works. `Lease.unclaimed()` guards nothing: a batch taken in
    one transaction (a database-only action) or a send outside any campaign."""

    def __init__(
        self,
        trace_ids: list[int],
        claim_id: int | None,
        renewed: float,
        length: timedelta | None = None,
        watched: bool = True,
    ) -> None:
        self.trace_ids = trace_ids
        self.claim_id = claim_id
        self.length = length or lease_length()
        self.watched = watched and claim_id is not None
        self._renewed = renewed  # monotonic time taken before the claim's last renewal
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._mutex = threading.RLock()  # renewals wait for the holder's writes
        self._thread: threading.Thread | None = None

    @classmethod
    def unclaimed(cls, trace_ids: Iterable[int] = ()) -> Lease:
        return cls(list(trace_ids), None, time.monotonic(), watched=False)

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    @property
    def deadline(self) -> float:
        """The monotonic time after which the holder must confirm its lease before sending."""
        return self._renewed + self.length.total_seconds() * (1 - MARGIN)

    def __enter__(self) -> Lease:
        if self.watched and self.trace_ids:
            self._thread = threading.Thread(
                target=self._beat, name=f"drumbeat-lease-{self.claim_id}", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _beat(self) -> None:
        interval = self.length.total_seconds() * HEARTBEAT
        try:
            while not self._stop.wait(interval):
                self.renew()
                if self.lost:
                    break
        finally:
            connection.close()  # this thread's own connection

    def renew(self) -> bool:
        """Extend the lease of the batch: one UPDATE of the rows still carrying the claim id.
        False when the claim is gone (then `lost`) or the database did not answer."""
        if self.claim_id is None:
            return not self.lost
        started = time.monotonic()
        try:
            with self._mutex:
                renewed = Trace.objects.filter(
                    id__in=id_set(self.trace_ids),
                    claim_id=self.claim_id,
                    state=Trace.State.PROCESSING,
                ).update(claim_expires_at=clock.now() + self.length)
        except DatabaseError as exc:
            log.warning("could not renew the lease of claim %s: %s", self.claim_id, exc)
            return False
        if renewed < len(self.trace_ids):
            self._lose()
            return False
        self._renewed = max(self._renewed, started)
        return True

    def may_send(self) -> bool:
        """Whether the holder may start one more send for the batch (asked before each)."""
        if self.lost:
            return False
        if not self.watched or time.monotonic() < self.deadline:
            return True
        # Past the deadline (frozen, or the heartbeat could not reach the database): only the
        # database can say whether the claim is still ours.
        if self.renew():
            return True
        self._lose()
        return False

    @contextmanager
    def holding(self, trace_ids: Iterable[int]) -> Iterator[set[int]]:
        """A transaction for writing about `trace_ids`: yields those this claim still holds,
        locked until it commits. When any is no longer held the lease is lost: write nothing."""
        ids = {int(i) for i in trace_ids}
        with self._mutex, transaction.atomic():
            if self.claim_id is None:
                yield ids
                return
            rows = Trace.objects.filter(
                id__in=id_set(ids), claim_id=self.claim_id, state=Trace.State.PROCESSING
            )
            held = set(rows.select_for_update().values_list("id", flat=True))
            if len(held) < len(ids):
                self._lose()
            yield held

    def _lose(self) -> None:
        if not self._lost.is_set():
            self._lost.set()
            log.warning(
                "lease lost on %d traces (claim %s): another worker recovered them; this worker"
                " stops sending and writing for them",
                len(self.trace_ids),
                self.claim_id,
            )
