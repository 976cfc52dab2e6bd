import pytest
import time_machine

from .fixtures import START, make_user


@pytest.fixture
def clock():
    """The engine clock, frozen at START; move it with clock.move_to(...)/shift(...)."""
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def smtp(settings):
    """A real SMTP server (aiosmtpd) on a loopback port, used by the email transport."""
    from aiosmtpd.controller import Controller

    from .fixtures import Sink, free_port

    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_URL = f"smtp://127.0.0.1:{port}?timeout=5"
    settings.SMS_URL = "outbox://"
    settings.BASE_URL = "http://testserver"
    settings.FROM_EMAIL = "Drumbeat <news@example.org>"
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed(): ...` runs the block's on-commit callbacks (mailing's event hooks)
    when it ends, as a real commit would."""

    def block():
        return django_capture_on_commit_callbacks(execute=True)

    return block
