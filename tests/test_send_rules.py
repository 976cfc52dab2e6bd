"""Send windows and frequency caps as text (drumbeat/lib/send_rules.py)."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from drumbeat.lib.send_rules import parse_cap, parse_window

PARIS = ZoneInfo("Europe/Paris")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def test_an_empty_window_is_always_open():
    assert parse_window("").always_open and parse_window("always").is_open(at(2026, 3, 1, 3))


def test_a_window_opens_on_its_days_and_hours():
    window = parse_window("Mon-Sat 08:00-20:00")
    assert window.is_open(at(2026, 3, 2, 8)) and not window.is_open(at(2026, 3, 2, 20))
    # Saturday 21:00 → Monday 08:00 (Sunday is closed)
    assert window.next_open(at(2026, 3, 7, 21)) == at(2026, 3, 9, 8)
    assert window.next_open(at(2026, 3, 2, 6, 30)) == at(2026, 3, 2, 8)


def test_several_rules_and_wrapping_day_ranges():
    window = parse_window("Mon-Fri 09:00-12:00; Fri-Mon 14:00-24:00")
    assert window.next_open(at(2026, 3, 3, 12, 30)) == at(2026, 3, 4, 9)  # Tuesday afternoon
    assert window.is_open(at(2026, 3, 8, 23, 59))  # Sunday 23:59
    assert parse_window("10:00-11:00").next_open(at(2026, 3, 1, 11)) == at(2026, 3, 2, 10)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Mon-Sat 8-20", "is not a window rule"),
        ("Funday 08:00-20:00", "'funday' in 'Funday 08:00-20:00' is not a day"),
        ("Mon 20:00-08:00", "the end must come after the start"),
        ("Mon 08:00-24:30", "is not a time"),
    ],
)
def test_a_bad_window_names_its_fault(text, message):
    with pytest.raises(ValueError, match=message):
        parse_window(text)


def test_a_cap_finds_the_first_day_with_room():
    cap = parse_cap("1/day,3/7days")
    assert cap.lookback_days == 7
    today = date(2026, 3, 10)
    assert cap.fit_day([], today) == today
    assert cap.fit_day([date(2026, 3, 9)], today) == today
    assert cap.fit_day([today], today) == date(2026, 3, 11)
    # three in the last seven days (4, 6 and 9 March): room again when 4 March leaves, on the 11th
    assert cap.fit_day([date(2026, 3, 4), date(2026, 3, 6), date(2026, 3, 9)], today) == date(
        2026, 3, 11
    )
    assert parse_cap("2/week").rules[0].days == 7
    assert parse_cap("none").is_none


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1/fortnight", "is not a cap"),
        ("0/day", "must be at least 1"),
        ("1/32days", "the period must be 1 to 31 days"),
    ],
)
def test_a_bad_cap_names_its_fault(text, message):
    with pytest.raises(ValueError, match=message):
        parse_cap(text)
