"""Pausing a failing transport (issue 9: "a burst of failures above a threshold pauses sending").

When the SMTP server or the SMS gateway answers `TRANSPORT_PAUSE_AFTER` transient failures in a
row (4xx replies, refused or lost connections, timeouts, gateway 5xx), sending on that channel
pauses for `TRANSPORT_PAUSE_MINUTES`: messages are deferred with "sending paused …" instead of
hammering a server that is down (or of waiting out a timeout per message of a 1,000-message
batch). The first message after the pause is a probe: a success closes the circuit, another
transient failure pauses again. Permanent refusals (a bad address) are not the transport's
fault and do not count.

Blocks count too: when receiving servers report `TRANSPORT_PAUSE_AFTER` blocks (sender-side
refusals: blacklists, reputation, spam filters, rate limits; read from bounces by
`bounce_rules`) within BLOCK_WINDOW, the channel pauses the same way (`record_blocks`): going
on would only dig the sender's reputation deeper.

The state lives in a small JSON file per channel (and database) in DRUMBEAT_HOME, so the web UI
(another process) can say so in a banner. With workers on several machines each machine pauses
on its own failures.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings

from drumbeat.lib import clock

from .transports import Delivery, Outgoing, Transport

CHANNELS = ("email", "sms")
DEFAULT_PAUSE_AFTER = 20
DEFAULT_PAUSE_MINUTES = 10
BLOCK_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Pause:
    channel: str
    until: datetime
    reason: str  # the last failure
    failures: int
    cause: str = "failures"  # "failures" of the transport, or "blocks" reported by receivers

    @property
    def label(self) -> str:
        return {"email": "Email", "sms": "SMS"}.get(self.channel, self.channel)


def pause_after() -> int:
    return max(1, int(getattr(settings, "TRANSPORT_PAUSE_AFTER", DEFAULT_PAUSE_AFTER)))


def pause_length() -> timedelta:
    minutes = getattr(settings, "TRANSPORT_PAUSE_MINUTES", DEFAULT_PAUSE_MINUTES)
    return timedelta(minutes=float(minutes))


def _path(channel: str) -> Path:
    # One state per database: the web and worker processes of a deployment share it; test
    # processes (each with its own test database) do not see each other's pauses.
    name = str(settings.DATABASES["default"].get("NAME", ""))
    key = hashlib.sha256(name.encode()).hexdigest()[:12]
    return Path(settings.HOME) / f"transport-{channel}-{key}.json"


def _read(channel: str) -> dict[str, Any]:
    try:
        data = json.loads(_path(channel).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(channel: str, data: dict[str, Any]) -> None:
    path = _path(channel)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def current_pause(channel: str, now: datetime | None = None) -> Pause | None:
    """The pause of `channel` in force now, or None."""
    data = _read(channel)
    until = data.get("paused_until")
    if not until:
        return None
    try:
        until_at = datetime.fromisoformat(until)
    except ValueError:
        return None
    if until_at <= (now or clock.now()):
        return None
    return Pause(
        channel,
        until_at,
        str(data.get("reason", "")),
        int(data.get("failures", 0)),
        str(data.get("cause", "failures")),
    )


def paused_transports() -> list[Pause]:
    return [p for p in (current_pause(c) for c in CHANNELS) if p is not None]


def resume(channel: str) -> None:
    """End a pause now (and forget the failures counted so far)."""
    _path(channel).unlink(missing_ok=True)


def paused_reply(pause: Pause) -> str:
    what = "blocks reported" if pause.cause == "blocks" else "failures in a row"
    return (
        f"sending paused until {pause.until:%Y-%m-%d %H:%M} UTC after {pause.failures} "
        f"{what} (last: {pause.reason})"
    )


class Guarded:
    """Wraps a transport: counts transient failures in a row and pauses the channel."""

    def __init__(self, channel: str, inner: Transport) -> None:
        self.channel = channel
        self.inner = inner
        self.failures = 0
        self.pause: Pause | None = None

    def __enter__(self) -> Guarded:
        self.failures = int(_read(self.channel).get("failures", 0))
        self.pause = current_pause(self.channel)
        self.inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.__exit__(*exc)

    def send(self, outgoing: Outgoing) -> Delivery:
        if self.pause is not None:
            return Delivery(False, True, paused_reply(self.pause))
        delivery = self.inner.send(outgoing)
        if delivery.ok:
            if self.failures:
                self.failures = 0
                resume(self.channel)
        elif delivery.transient:
            self._failed(delivery.reply)
        return delivery

    def _failed(self, reply: str) -> None:
        self.failures += 1
        data: dict[str, Any] = {"failures": self.failures, "reason": reply[:300]}
        if self.failures >= pause_after():
            until = clock.now() + pause_length()
            data["paused_until"] = until.isoformat()
            self.pause = Pause(self.channel, until, reply[:300], self.failures)
        _write(self.channel, data)


def record_blocks(channel: str, count: int, reason: str) -> Pause | None:
    """Count `count` blocks reported now on `channel`; pause it when TRANSPORT_PAUSE_AFTER
    of them came within BLOCK_WINDOW. Returns the pause begun, if any."""
    if channel not in CHANNELS or count < 1:
        return None
    now = clock.now()
    data = _read(channel)
    since = now - BLOCK_WINDOW
    times = [t for t in data.get("blocks", []) if isinstance(t, str) and t >= since.isoformat()]
    times = (times + [now.isoformat()] * count)[-pause_after() :]
    data["blocks"] = times
    pause = None
    if len(times) >= pause_after() and current_pause(channel, now) is None:
        until = now + pause_length()
        data.update(
            paused_until=until.isoformat(), reason=reason[:300], failures=len(times), cause="blocks"
        )
        data["blocks"] = []
        pause = Pause(channel, until, reason[:300], len(times), "blocks")
    _write(channel, data)
    return pause


def transport_pauses(request) -> dict[str, Any]:
    """Template context processor: `transport_pauses` for the banner of every page."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"transport_pauses": paused_transports()}
