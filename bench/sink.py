"""A counting SMTP server (aiosmtpd) run in a separate process; imports no Django."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time

from bench.common import free_port


def _serve(port: int, counter, ready) -> None:
    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)

    class Counting:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            with counter.get_lock():
                counter.value += 1
            return "250 OK"

    controller = Controller(Counting(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        asyncio.run(asyncio.sleep(10**6))
    finally:
        controller.stop()


class Sink:
    """Start with Sink(); `count` is the number of messages accepted so far."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.port = free_port()
        self.counter = ctx.Value("q", 0)
        ready = ctx.Event()
        args = (self.port, self.counter, ready)
        self.process = ctx.Process(target=_serve, args=args, daemon=True)
        self.process.start()
        if not ready.wait(30):
            raise RuntimeError("SMTP sink did not start")

    @property
    def count(self) -> int:
        return self.counter.value

    def wait_for(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.count < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)
