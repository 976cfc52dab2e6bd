"""The open pixel's and tracked links' work (the views only read the request and answer).

A request checks the token's signature (no query for a forged one), reads the message's
tracking columns (one plain SELECT by token) and the link, and hands its hit (`events.Hit`) on.
By default the hit is written at once (`events.record_hits`), and every request reads the
database: what tests, `drumbeat tick` and the like see.

`start()` switches the process to the serving mode of `drumbeat serve` (each web worker, from
gunicorn's post_worker_init to its worker_exit, which calls `stop()`):

- Hits go to a `HitBuffer`, whose flusher thread writes those of up to FLUSH_SECONDS in one
  transaction with a constant number of statements and reports them to the engine in one call.
  `stop()` writes what is left; a hard kill (SIGKILL, a crash, power loss) loses the hits of
  the last FLUSH_SECONDS at most (README, Performance).
- Links, SMS short codes and sent messages recently looked up are kept in memory
  (CACHE_SECONDS, CACHE_SIZE each): repeated opens and the clicks following an open cost no
  query. What the cache holds cannot go wrong meanwhile except through rare edits (a link's
  URL changed or a link, template or message deleted through the API or the admin), which a
  worker follows within CACHE_SECONDS. Whether a hit is a message's first open or click is
  always decided by the database; whether it came within MACHINE_WINDOW of sending, at each
  request.
- On PostgreSQL the message lookup runs on a cursor kept per thread, as a statement prepared
  once per connection (`_lean_message_row`).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

import psycopg
import psycopg.errors
from django.core.exceptions import DisallowedRedirect
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from django.http import HttpResponseRedirect

from drumbeat.lib import clock

from . import shortlinks
from .events import Hit, record_hits
from .models import Link, Message
from .tokens import is_valid_token

log = logging.getLogger(__name__)

MACHINE_WINDOW = timedelta(seconds=10)  # an open or click this soon after sending is a machine's
FLUSH_SECONDS = 0.1  # the longest a hit waits in memory before its batch is written
MAX_BATCH = 1000  # hits written per transaction at most
MAX_PENDING = 100_000  # hits held while the database does not answer; more are dropped
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)  # waits between the attempts to write a batch
CACHE_SIZE = 50_000  # links, and messages, kept per process at most
CACHE_SECONDS = 30.0


@dataclass(slots=True)
class TrackedMessage:
    id: int
    template_id: int | None
    activity_id: int | None
    opened: bool  # as far as this process knows: a hint, the database decides
    clicked: bool
    sent_at: datetime | None  # None: not sent yet (never cached: it will change)

    def just_sent(self, now: datetime) -> bool:
        """Sent less than MACHINE_WINDOW before `now`: an open or click is a machine's."""
        return self.sent_at is not None and now - self.sent_at < MACHINE_WINDOW


@dataclass(frozen=True, slots=True)
class TrackedLink:
    id: int
    url: str
    template_id: int | None
    activity_id: int | None
    redirectable: bool  # a URL Django redirects to (http, https, ftp)


def track_open(token: str, machine: bool) -> bool:
    """Record an open of the message of `token` (`machine`: the request looked like a
    machine's); False when the token names no message."""
    message = _message(token)
    if message is None:
        return False
    at = clock.now()
    machine = machine or message.just_sent(at)
    record(Hit("open", at, machine, message.id, message.opened, message.clicked))
    message.opened = True
    return True


def track_click(
    code: str, token: str | None, machine: bool, ip: str | None, user_agent: str
) -> str | None:
    """Record a click of link `code` (by the message of `token`, when given) and return the
    URL to redirect to; None (nothing recorded) for an unknown link or message, a token
    replayed onto another mailing's link, or a URL that cannot be redirected to."""
    link = _link(code)
    if link is None or not link.redirectable:
        return None
    message = None
    if token is not None:
        message = _message(token)
        if message is None:
            return None
        if (message.template_id, message.activity_id) != (link.template_id, link.activity_id):
            return None
    at = clock.now()
    if message is not None:
        machine = machine or message.just_sent(at)
    hit = Hit(
        "click",
        at,
        machine,
        message.id if message else None,
        message.opened if message else False,
        message.clicked if message else False,
        link_id=link.id,
        ip=ip,
        user_agent=user_agent[:500],
    )
    record(hit)
    if message is not None:
        message.opened = message.clicked = True
    return link.url


def track_short_click(code: str, machine: bool, ip: str | None, user_agent: str) -> str | None:
    """A click on an SMS's short link `/s/<code>` (shortlinks.py): the click of that message
    on that link, recorded as `track_click` records it; the URL to redirect to or None."""
    found = _short(code)
    if found is None:
        return None
    link_code, token = found
    return track_click(link_code, token, machine, ip, user_agent)


# --- lookups ----------------------------------------------------------------------------------


def message_for(token: str, lean: bool = False) -> TrackedMessage | None:
    """The tracking columns of the message of a validly signed token (None otherwise): one
    SELECT, plain SQL (the ORM's query compilation cost more than running it); `lean`: the
    serving mode's lookup (`_lean_message_row`)."""
    if not is_valid_token(token):
        return None
    token = token.lower()
    lean = lean and connection.vendor == "postgresql" and not connection.in_atomic_block
    row = _fetch_one(_lean_message_row, [token]) if lean else _fetch_one(_message_sql(), [token])
    if row is None:
        return None
    pk, template_id, activity_id, opened, clicked, sent_at = row
    if sent_at is not None and sent_at.tzinfo is None:  # SQLite: UTC, as Django writes it
        sent_at = sent_at.replace(tzinfo=UTC)
    # SQLite answers the flags as 0/1.
    return TrackedMessage(pk, template_id, activity_id, bool(opened), bool(clicked), sent_at)


@functools.cache
def _message_sql(parameter: str = "%s") -> str:
    return (
        "SELECT id, template_id, activity_id, opened_at IS NOT NULL, clicked_at IS NOT NULL,"
        f" sent_at FROM {connection.ops.quote_name(Message._meta.db_table)}"
        f" WHERE token = {parameter}"
    )


def link_for(code: str) -> TrackedLink | None:
    row = Link.objects.filter(code=code).values_list("id", "url", "template_id", "activity_id")
    found = row[:1]
    return TrackedLink(*found[0], redirectable=_redirectable(found[0][1])) if found else None


def _redirectable(url: str) -> bool:
    try:
        HttpResponseRedirect(url)
    except DisallowedRedirect:
        return False
    return True


def _fetch_one(sql: str | Callable[[list], tuple | None], params: list) -> tuple | None:
    """One row of `sql` (or of a function running the query), without the `SELECT 1` Django
    sends first in every request when CONN_HEALTH_CHECKS is on (a round trip as dear as the
    lookup itself): a connection found broken is closed and the query tried once more on a
    new one, which is what the check would have done."""
    for retry in (False, True):
        try:
            if callable(sql):
                return sql(params)
            if connection.connection is not None:
                connection.health_check_done = True
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchone()
        except (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError):
            if retry or connection.in_atomic_block:
                raise
            connection.close()
    return None  # not reached


LOOKUP = "drumbeat_tracked_message"  # the name of the prepared lookup
_lean = threading.local()  # per thread: its connection, cursor, whether LOOKUP is prepared
_prepare = True  # False once a pooler lost a prepared statement


def _lean_message_row(params: list) -> tuple | None:
    """The message lookup in serving mode on PostgreSQL: on a cursor kept per thread and
    connection rather than a new Django cursor (which cost as much CPU as the query), as a
    prepared statement (planning the lookup, the message table having a dozen indexes, cost
    PostgreSQL as much as running it). Behind a pooler that loses prepared statements
    (pgbouncer in transaction mode) the process goes on without. Django's query logging does
    not see these queries."""
    global _prepare
    connection.ensure_connection()
    raw = connection.connection
    if getattr(_lean, "raw", None) is not raw or _lean.cursor.closed:
        _lean.raw, _lean.cursor, _lean.prepared = raw, psycopg.ClientCursor(raw), False
    cursor = _lean.cursor
    if _prepare:
        try:
            if not _lean.prepared:
                cursor.execute(f"PREPARE {LOOKUP} (text) AS {_message_sql('$1')}")
                _lean.prepared = True
            return cursor.execute(f"EXECUTE {LOOKUP}(%s)", params).fetchone()
        except (psycopg.errors.InvalidSqlStatementName, psycopg.errors.DuplicatePreparedStatement):
            _prepare = False
            log.warning("prepared statements lost (a pooler in transaction mode?): not preparing")
    return cursor.execute(_message_sql(), params).fetchone()


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class RecentCache(Generic[K, V]):
    """Values recently loaded, each kept `seconds`, the `size` most recently used at most."""

    def __init__(self, size: int = CACHE_SIZE, seconds: float = CACHE_SECONDS) -> None:
        self.size, self.seconds = size, seconds
        self._lock = threading.Lock()
        self._values: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(
        self, key: K, load: Callable[[K], V | None], keep: Callable[[V], bool] = lambda v: True
    ) -> V | None:
        """The cached value of `key`, else `load(key)` (cached unless None or not `keep`)."""
        now = time.monotonic()
        with self._lock:
            cached = self._values.get(key)
            if cached is not None and cached[0] > now:
                self._values.move_to_end(key)
                return cached[1]
        value = load(key)
        with self._lock:
            if value is None or not keep(value):
                self._values.pop(key, None)
            else:
                self._values[key] = (now + self.seconds, value)
                self._values.move_to_end(key)
                while len(self._values) > self.size:
                    self._values.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._values)


_links: RecentCache[str, TrackedLink] | None = None
_messages: RecentCache[str, TrackedMessage] | None = None
_shorts: RecentCache[str, tuple[str, str]] | None = None


def _link(code: str) -> TrackedLink | None:
    cache = _links
    return link_for(code) if cache is None else cache.get(code, link_for)


def _short(code: str) -> tuple[str, str] | None:
    cache = _shorts
    return shortlinks.resolve(code) if cache is None else cache.get(code, shortlinks.resolve)


def _message(token: str) -> TrackedMessage | None:
    cache = _messages
    if cache is None:
        return message_for(token)
    # Only validly signed tokens get in (message_for checks); a message not sent yet is read
    # again (its sent_at, hence its machine window, is still to come).
    return cache.get(
        token.lower(), lambda t: message_for(t, lean=True), keep=lambda m: m.sent_at is not None
    )


# --- writing hits -----------------------------------------------------------------------------


class HitBuffer:
    """Hits handed over by the request threads, written by one flusher thread in batches: a
    batch is written FLUSH_SECONDS after its first hit arrived (at once when MAX_BATCH are
    waiting or on `stop`). A batch the database refuses is tried again (RETRY_SECONDS), then
    dropped with an error in the log."""

    def __init__(self, delay: float = FLUSH_SECONDS, max_batch: int = MAX_BATCH) -> None:
        self.delay, self.max_batch = delay, max_batch
        self._ready = threading.Condition()
        self._pending: list[Hit] = []
        self._first_at = 0.0  # when the oldest pending hit arrived (monotonic)
        self._stopping = False
        self._dropped = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tracking-flusher", daemon=True)
        self._thread.start()

    def add(self, hit: Hit) -> None:
        with self._ready:
            stopping = self._stopping
            if not stopping:
                if len(self._pending) >= MAX_PENDING:
                    self._dropped += 1
                    return
                if not self._pending:
                    self._first_at = time.monotonic()
                    self._ready.notify()
                self._pending.append(hit)
                if len(self._pending) == self.max_batch:
                    self._ready.notify()
        if stopping:  # the flusher may be gone already: write it at once
            record_hits([hit])

    def stop(self, timeout: float = 8.0) -> None:
        """Write what is pending, then end the flusher thread."""
        with self._ready:
            self._stopping = True
            self._ready.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("tracking hits not all written within %.0f s of the stop", timeout)

    def _next_batch(self) -> list[Hit] | None:
        """Wait for a batch to be due and take it; None once stopped with nothing pending."""
        with self._ready:
            while not self._pending and not self._stopping:
                self._ready.wait()
            while not self._stopping and len(self._pending) < self.max_batch:
                left = self._first_at + self.delay - time.monotonic()
                if left <= 0:
                    break
                self._ready.wait(left)
            batch = self._pending[: self.max_batch]
            self._pending = self._pending[self.max_batch :]
            self._first_at = time.monotonic()
            dropped, self._dropped = self._dropped, 0
        if dropped:
            log.error("%d tracking hits dropped: the database did not answer", dropped)
        return batch or None

    def _run(self) -> None:
        try:
            while (batch := self._next_batch()) is not None:
                self._write(batch)
        finally:
            connection.close()

    def _write(self, batch: list[Hit]) -> None:
        for wait in (*RETRY_SECONDS, None):
            close_old_connections()  # like a request: no connection past its age or broken
            try:
                record_hits(batch)
                return
            except Exception:
                log.exception("writing %d tracking hits failed", len(batch))
                connection.close()
            if wait is None or self._stopping:
                break
            time.sleep(wait)
        log.error("%d tracking hits dropped after failed writes", len(batch))


_buffer: HitBuffer | None = None


def record(hit: Hit) -> None:
    buffer = _buffer
    if buffer is None:
        record_hits([hit])
    else:
        buffer.add(hit)


def start(delay: float = FLUSH_SECONDS) -> HitBuffer:
    """Serving mode: hits written in batches by a flusher thread, lookups cached."""
    global _buffer, _links, _messages, _shorts
    stop()
    _links, _messages, _shorts = RecentCache(), RecentCache(), RecentCache()
    _buffer = HitBuffer(delay)
    _buffer.start()
    return _buffer


def stop() -> None:
    """Write the pending hits, drop the caches: each hit is written at once again."""
    global _buffer, _links, _messages, _shorts
    buffer, _buffer = _buffer, None
    _links = _messages = _shorts = None
    if buffer is not None:
        buffer.stop()
