"""A counting SMTP server run in a separate process; imports no Django.

Minimal on purpose: it speaks just enough SMTP for a client that sends (EHLO/HELO, MAIL, RCPT,
DATA, RSET, NOOP, QUIT), finds the end of each message's data and counts it. The sink shares the
machine's two cores with what is measured, and a full SMTP server (aiosmtpd parses every
command and message into objects) would take a third of a core at the rates measured here,
from the product and the raw loop alike. The tests use aiosmtpd, which checks more.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time

from bench.common import free_port

END_OF_DATA = b"\r\n.\r\n"


class _Session(asyncio.Protocol):
    def __init__(self, counter, times, delay: float) -> None:
        self.counter = counter
        self.times = times  # wall-clock time of each accepted message, as far as it holds
        self.delay = delay
        self.buffer = b""
        self.in_data = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.in_data:
                # The message so far starts with CRLF (the DATA line's end), so a message
                # whose data is empty is found too.
                end = self.buffer.find(END_OF_DATA)
                if end < 0:
                    # Keep the tail that may hold the start of the terminator.
                    self.buffer = self.buffer[-(len(END_OF_DATA) - 1) :]
                    return
                self.buffer = self.buffer[end + len(END_OF_DATA) :]
                self.in_data = False
                if self.delay:  # a slow server: the reply comes `delay` seconds later
                    asyncio.get_running_loop().call_later(self.delay, self._accept)
                else:
                    self._accept()
                continue
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                return
            line, self.buffer = self.buffer[:line_end], self.buffer[line_end + 2 :]
            self._command(line[:4].upper())

    def _accept(self) -> None:
        with self.counter.get_lock():
            if self.counter.value < len(self.times):
                self.times[self.counter.value] = time.time()
            self.counter.value += 1
        self.transport.write(b"250 OK\r\n")

    def _command(self, verb: bytes) -> None:
        if verb == b"EHLO":
            self.transport.write(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
        elif verb == b"DATA":
            self.in_data = True
            self.buffer = b"\r\n" + self.buffer
            self.transport.write(b"354 go ahead\r\n")
        elif verb == b"QUIT":
            self.transport.write(b"221 bye\r\n")
            self.transport.close()
        else:  # HELO, MAIL, RCPT, RSET, NOOP
            self.transport.write(b"250 OK\r\n")


def _serve(port: int, counter, times, delay: float, ready) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _Session(counter, times, delay), "127.0.0.1", port
        )
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class Sink:
    """Start with Sink(); `count` is the number of messages accepted so far. `delay` makes
    each reply to DATA come that many seconds late; `times(n)` are the wall-clock times of the
    first n accepted messages (at most `keep_times` of them are kept)."""

    def __init__(self, delay: float = 0.0, keep_times: int = 0) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.port = free_port()
        self.counter = ctx.Value("q", 0)
        self._times = ctx.Array("d", keep_times)
        ready = ctx.Event()
        args = (self.port, self.counter, self._times, delay, ready)
        self.process = ctx.Process(target=_serve, args=args, daemon=True)
        self.process.start()
        if not ready.wait(30):
            raise RuntimeError("SMTP sink did not start")

    @property
    def count(self) -> int:
        return self.counter.value

    def times(self) -> list[float]:
        with self.counter.get_lock():
            return list(self._times[: min(self.counter.value, len(self._times))])

    def wait_for(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.count < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)
