"""ISO 3166-1 alpha-2 country codes and names (pycountry)."""

from functools import cache

import pycountry


@cache
def country_choices() -> list[tuple[str, str]]:
    return sorted(((c.alpha_2, c.name) for c in pycountry.countries), key=lambda c: c[1])


@cache
def _codes() -> dict[str, str]:
    return dict(country_choices())


def normalize_country(value: str | None) -> str | None:
    """The alpha-2 code for a code or an English name; '' for nothing, None when unknown."""
    if not value or not value.strip():
        return ""
    value = value.strip()
    if value.upper() in _codes():
        return value.upper()
    try:
        return pycountry.countries.lookup(value).alpha_2
    except LookupError:
        return None


def country_name(code: str) -> str:
    return _codes().get(code, code)
