import pytest
import time_machine

from drumbeat.automation.tests.fixtures import START, make_user


@pytest.fixture
def clock():
    """The engine clock, frozen at START; the runner is driven pass by pass."""
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def channel_settings(settings):
    settings.BASE_URL = "http://testserver"
    settings.FROM_EMAIL = "Drumbeat <news@example.org>"
    settings.INBOUND_DOMAIN = ""
    settings.DKIM_DOMAIN = settings.DKIM_SELECTOR = settings.DKIM_KEY_FILE = ""
    settings.EMAIL_URL = "outbox://"
    settings.SMS_URL = "outbox://"
    return settings
