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
