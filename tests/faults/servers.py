"""Misbehaving servers on loopback ports for the fault tests.

`FaultySmtp`: an aiosmtpd handler whose behaviour depends on the recipient's local part:
  ok…       accepted
  soft…     451 at RCPT for the first `soft_failures` tries, then accepted
  never…    451 at RCPT, always
  hard…     550 at RCPT
  drop…     the message is accepted, then the connection is dropped before the reply (once)
  cut…      the connection is dropped at RCPT, before any DATA (once)
  stall…    no reply to DATA for `stall_seconds` (past the client's timeout), always
Only accepted messages are recorded, by Message-ID.

`FaultyHttp`: a threaded HTTP server whose answer depends on a key found in the JSON body
(`to` for SMS gateways, `email` for webhooks): ok, error5xx, refuse4xx, timeout, malformed,
reset, flaky (503 the first time, then ok).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class FaultySmtp:
    soft_failures: int = 2
    stall_seconds: float = 3.0
    accepted: list[tuple[str, str]] = field(default_factory=list)  # (recipient, Message-ID)
    tries: Counter = field(default_factory=Counter)  # DATA/RCPT tries per recipient
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        local = address.split("@")[0]
        with self.lock:
            self.tries[address] += 1
            tries = self.tries[address]
        if local.startswith("cut") and tries == 1:
            server.transport.close()
            return "421 4.4.2 Connection dropped"
        if local.startswith("hard"):
            return "550 5.1.1 No such user here"
        if local.startswith("never"):
            return "451 4.3.0 Mailbox busy, try again later"
        if local.startswith("soft") and tries <= self.soft_failures:
            return "451 4.3.0 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        (address,) = envelope.rcpt_tos
        local = address.split("@")[0]
        if local.startswith("stall"):
            await asyncio.sleep(self.stall_seconds)
            return "451 4.4.2 Timeout"
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.accepted.append((address, str(parsed["Message-ID"])))
        if local.startswith("drop"):
            with self.lock:
                dropped = self.tries[f"dropped:{address}"]
                self.tries[f"dropped:{address}"] += 1
            if not dropped:  # the reply is lost: the client cannot know it was accepted
                server.transport.close()
                return "421 4.4.2 Connection dropped"
        return "250 Message accepted"

    def received_by(self, address: str) -> list[str]:
        return [mid for rcpt, mid in self.accepted if rcpt == address]


def start_smtp(handler) -> tuple[Controller, int]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port


@dataclass
class FaultyHttp:
    key: str  # JSON field naming the behaviour
    stall_seconds: float = 3.0
    requests: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    def mode_of(self, body: dict) -> str:
        value = str(body.get(self.key, ""))
        for mode in ("error5xx", "refuse4xx", "timeout", "malformed", "reset", "flaky"):
            if mode in value or MODE_NUMBERS.get(value) == mode:
                return mode
        return "ok"

    def start(self) -> str:
        fault = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                mode = fault.mode_of(body)
                with fault.lock:
                    seen = sum(1 for r in fault.requests if r.get(fault.key) == body.get(fault.key))
                    fault.requests.append(body)
                if mode == "flaky":
                    mode = "error5xx" if seen == 0 else "ok"
                if mode == "timeout":
                    time.sleep(fault.stall_seconds)
                    mode = "ok"
                if mode == "reset":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.connection.close()
                    return
                status, payload = {
                    "ok": (200, json.dumps({"id": f"gw-{len(fault.requests)}"})),
                    "error5xx": (503, "Service Unavailable"),
                    "refuse4xx": (400, json.dumps({"error": "invalid destination"})),
                    "malformed": (200, "<html>not json {"),
                }[mode]
                data = payload.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):  # a client that gave up: expected
                pass

        self.server = Server(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def count(self, value: str) -> int:
        return sum(1 for r in self.requests if r.get(self.key) == value)


# SMS numbers standing for a behaviour (phone numbers cannot carry words).
MODE_NUMBERS = {
    "+15555550100": "ok",
    "+15555550101": "error5xx",
    "+15555550102": "refuse4xx",
    "+15555550103": "timeout",
    "+15555550104": "malformed",
    "+15555550105": "reset",
    "+15555550106": "flaky",
}
NUMBER_OF = {mode: number for number, mode in MODE_NUMBERS.items()}
