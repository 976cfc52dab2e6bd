"""Each person's time zone: checking an IANA name, and deriving one from a phone or a country.

A person's zone is, in order: the zone stored on the record (typed by a user, imported, or
derived when the record was saved); else the zone of the phone number (phonenumbers' prefix
data, e.g. +1 212 → America/New_York); else the zone of the number's region or of the record's
country when that country lives on one clock (read from the IANA database's zone.tab, see
`country_zones`); else the instance's `DRUMBEAT_TIME_ZONE`.

Services and the importer store the derived zone on the record (so filters and set-based
checks read a column); `effective_zone` derives it again for rows saved without one.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

import phonenumbers
from django.conf import settings
from phonenumbers import timezone as phone_zones

# Two dates a year apart in each season: zones that agree on both run the same clock.
_PROBES = [datetime(2025, 1, 15, 12), datetime(2025, 7, 15, 12)]


@cache
def available_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@cache
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def clean_time_zone(value: str | None) -> str:
    """The IANA zone name ('' for nothing); ValueError naming the bad value."""
    text = (value or "").strip()
    if not text:
        return ""
    if text in available_zones():
        return text
    lowered = {z.lower(): z for z in available_zones()}
    if text.lower() in lowered:
        return lowered[text.lower()]
    raise ValueError(f"unknown time zone {text!r} (use an IANA name such as Europe/Paris)")


def default_zone() -> str:
    return settings.TIME_ZONE or "UTC"


@cache
def _same_clock(names: tuple[str, ...]) -> bool:
    offsets = {tuple(p.replace(tzinfo=zone(n)).utcoffset() for p in _PROBES) for n in names}
    return len(offsets) == 1


def _zone_tab() -> str:
    try:
        return resources.files("tzdata").joinpath("zoneinfo/zone.tab").read_text()
    except (ModuleNotFoundError, FileNotFoundError):
        return Path("/usr/share/zoneinfo/zone.tab").read_text()


@cache
def country_zones() -> dict[str, str]:
    """ISO country code → zone, for the countries whose zones (IANA zone.tab) all keep the
    same clock (Germany's Berlin and Busingen, yes; the United States, Spain with the Canary
    Islands, no). The first zone listed for the country is its principal one."""
    by_country: dict[str, list[str]] = {}
    for line in _zone_tab().splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) >= 3 and parts[2] in available_zones():
            by_country.setdefault(parts[0].upper(), []).append(parts[2])
    return {c: names[0] for c, names in by_country.items() if _same_clock(tuple(names))}


@lru_cache(maxsize=200_000)
def derive_zone(phone: str, country: str) -> str:
    """The zone of a phone number, else of its region or `country` when single-zone; ''
    when neither tells (the caller falls back to `default_zone()`)."""
    if phone:
        try:
            number = phonenumbers.parse(phone, (country or "US").upper())
        except phonenumbers.NumberParseException:
            number = None
        if number is not None:
            names = tuple(
                z for z in phone_zones.time_zones_for_number(number) if z in available_zones()
            )
            if names and _same_clock(names):
                return names[0]
            region = phonenumbers.region_code_for_number(number)
            if region and region in country_zones():
                return country_zones()[region]
    return country_zones().get((country or "").upper(), "")


def effective_zone(stored: str, phone: str = "", country: str = "") -> str:
    """The zone to use for a person: stored, else derived, else the instance's."""
    if stored and stored in available_zones():
        return stored
    return derive_zone(phone or "", country or "") or default_zone()


def settle_zone(
    given: str | None,
    phone: str,
    country: str,
    before: tuple[str, str, str] | None = None,
) -> str:
    """The zone to store on a record being saved with `phone` and `country`.

    `given`: the zone the user or file gave (None: not given; '' : "work it out").
    `before`: (phone, country, stored zone) before an update, None on creation. A stored zone
    that was derived from the old phone and country follows the new ones; one typed by a user
    is kept.
    """
    if given:
        return given
    derived = derive_zone(phone, country)
    if given == "" or before is None:
        return derived
    old_phone, old_country, old_zone = before
    if (old_phone, old_country) == (phone, country):
        return old_zone
    if not old_zone or old_zone == derive_zone(old_phone, old_country):
        return derived
    return old_zone


def fill_missing_zones(model: type, chunk: int = 5000) -> int:
    """Store the derived zone on the rows of `model` (with phone, country, time_zone columns)
    that have none: for migrations and repairs. One UPDATE per zone per chunk of rows."""
    rows = model._default_manager.filter(time_zone="").order_by("pk")
    filled, last = 0, 0
    has_country = any(f.name == "country" for f in model._meta.concrete_fields)
    fields = ["pk", "phone", "country"] if has_country else ["pk", "phone"]
    while True:
        batch = list(rows.filter(pk__gt=last).values_list(*fields)[:chunk])
        if not batch:
            return filled
        by_zone: dict[str, list[int]] = {}
        for pk, phone, *country in batch:
            derived = derive_zone(phone or "", (country or [""])[0] or "")
            if derived:
                by_zone.setdefault(derived, []).append(pk)
        for name, ids in by_zone.items():
            filled += model._default_manager.filter(pk__in=ids).update(time_zone=name)
        last = batch[-1][0]
