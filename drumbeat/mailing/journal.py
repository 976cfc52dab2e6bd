"""The send journal: what a batch did with each message, kept outside the database.

A batch's messages are committed as `outgoing` before the transport is called, and marked
`sent` together when the batch ends. If the process dies in between, the database alone cannot
tell which of them reached the server, so all would have to count as "interrupted" (maybe
sent, never sent again). The journal narrows that to the one message in flight: before
sending, the batch appends a line listing its message ids, then a line as it starts each
message and one with the outcome, to a file of its own under DRUMBEAT_HOME/send-journal
(line-buffered: each line is in the operating system's hands once written, and survives the
death of the process). `recover_interrupted` reads the journals: accepted → sent; failed,
never started, or released (its batch's lease was lost before the send: never handed over) →
sent again; uncertain (the connection was lost after the server had the whole message) →
error "uncertain delivery"; started without an outcome → interrupted. Messages of a batch run
on another machine (another DRUMBEAT_HOME) are in no journal here and stay interrupted, as
before. A batch removes its file once its outcomes are committed (a batch that lost its lease
leaves it to the recovery).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

PLANNED, STARTED, ACCEPTED, FAILED = "planned", "started", "accepted", "failed"
UNCERTAIN = "uncertain"
_CODES = {"S": STARTED, "A": ACCEPTED, "F": FAILED, "U": UNCERTAIN, "R": PLANNED}


def directory() -> Path:
    return Path(settings.HOME) / "send-journal"


class Journal:
    """One batch's journal file; a no-op when the folder cannot be written."""

    def __init__(self, message_ids: list[int]) -> None:
        self.path: Path | None = None
        self._file = None
        if not message_ids:
            return
        try:
            folder = directory()
            folder.mkdir(parents=True, exist_ok=True)
            self.path = folder / f"{os.getpid()}-{uuid.uuid4().hex}.log"
            self._file = open(self.path, "a", buffering=1, encoding="ascii")  # noqa: SIM115
            self._file.write("B " + " ".join(str(i) for i in message_ids) + "\n")
        except OSError as exc:
            log.warning("send journal unavailable (%s): a crash would interrupt the batch", exc)
            self.path, self._file = None, None

    def _line(self, code: str, message_id: int) -> None:
        if self._file is not None:
            # The journal only narrows recovery: sending goes on without it.
            with contextlib.suppress(OSError):
                self._file.write(f"{code} {message_id}\n")

    def started(self, message_id: int) -> None:
        self._line("S", message_id)

    def finished(self, message_id: int, ok: bool, uncertain: bool = False) -> None:
        self._line("A" if ok else "U" if uncertain else "F", message_id)

    def released(self, message_id: int) -> None:
        """Started, then not sent after all (the batch lost its lease)."""
        self._line("R", message_id)

    def close(self, keep: bool = False) -> None:
        """The outcomes are committed: the file is no longer needed (`keep`: they are not,
        another worker's recovery will read it)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.path is not None and not keep:
            self.path.unlink(missing_ok=True)
            self.path = None


@dataclass
class Reading:
    """What the journals on this machine say about each message they mention."""

    fates: dict[int, str] = field(default_factory=dict)
    files: dict[Path, set[int]] = field(default_factory=dict)  # file -> its message ids


def read_all() -> Reading:
    reading = Reading()
    folder = directory()
    if not folder.is_dir():
        return reading
    for path in sorted(folder.glob("*.log")):
        try:
            lines = path.read_text(encoding="ascii", errors="replace").splitlines()
        except OSError:
            continue
        ids: set[int] = set()
        for line in lines:
            code, _, rest = line.partition(" ")
            try:
                if code == "B":
                    batch = {int(x) for x in rest.split()}
                    ids |= batch
                    for message_id in batch:
                        reading.fates.setdefault(message_id, PLANNED)
                elif code in _CODES:
                    reading.fates[int(rest)] = _CODES[code]
            except ValueError:
                continue  # a line cut short by the crash
        reading.files[path] = ids
    return reading


def forget(reading: Reading, unresolved: set[int]) -> None:
    """Remove the journal files none of whose messages is still unresolved (`outgoing`).

    A file with no readable id yet may belong to a batch writing its first line: it is
    removed only when an hour old."""
    for path, ids in reading.files.items():
        try:
            done = not ids & unresolved if ids else time.time() - path.stat().st_mtime > 3600
            if done:
                path.unlink(missing_ok=True)
        except OSError:
            continue
