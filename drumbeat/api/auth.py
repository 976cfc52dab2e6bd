"""Who is calling the API, and what they may do (docs/product.md#users-and-access).

Two ways in: `Authorization: Bearer <token>` (tokens from `drumbeat token create` or the token
routes; the last-used time is recorded) and the browser session of a logged-in user, for the
UI's own calls, with Django's CSRF check on unsafe methods.

Roles: every authenticated user may read, build and run campaigns; administrators alone manage
blacklists, delete business records, and manage other users' API tokens (the matrix is in the
API description, `ROLE_MATRIX`).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import AuthenticationError, HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from drumbeat.accounts.models import ApiToken, User

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


class BearerToken(HttpBearer):
    """`Authorization: Bearer dbt_…`; an unknown or revoked token is refused outright."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        token = token.strip()
        if not token or len(token) > 200:
            raise AuthenticationError(401, "Invalid API token.")
        user = ApiToken.authenticate(token)
        if user is None:
            raise AuthenticationError(401, "Invalid or revoked API token.")
        request.user = user
        return user


class BrowserSession(APIKeyCookie):
    """The Django session of a logged-in user. Unsafe methods need the CSRF token
    (`X-CSRFToken` header), like any form post of the UI."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if request.method not in SAFE_METHODS and check_csrf(request):
            raise HttpError(403, "CSRF check failed: send the X-CSRFToken header.")
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = request.user
        return user if user.is_authenticated else None


AUTH = [BearerToken(), BrowserSession()]


def current_user(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined]


def require_admin(request: HttpRequest, what: str) -> User:
    """The calling user when an administrator; 403 naming the refused action otherwise."""
    user = current_user(request)
    if not user.is_administrator:
        raise HttpError(403, f"Only administrators may {what}.")
    return user


RECORDS = "contacts, tags, leads, events, registrations, mailing lists, mailing contacts"
ROLE_MATRIX = f"""
| Route | Marketing user | Administrator |
|---|---|---|
| `GET` on every collection and record | yes | yes |
| create / update {RECORDS} | yes | yes |
| delete {RECORDS} | no | yes |
| create / update / delete email and phone blacklist entries | no | yes |
| templates, server actions, campaigns, activities, links: create / update / delete | yes | yes |
| campaign actions (start, stop, update, duplicate, tests, declare-winner), results | yes | yes |
| campaign templates | yes | yes |
| trace actions (run, cancel, retry, simulate) | yes | yes |
| `POST targets/{{key}}/count` | yes | yes |
| API tokens: list / create / revoke **own** tokens | yes | yes |
| API tokens: list all, create for another user, revoke another user's token | no | yes |
| outbound webhooks: `webhook-endpoints`, `webhook-deliveries` (all routes) | no | yes |
| `PATCH pressure-settings` (contact pressure caps and windows) | no | yes |
| `PUT brand-kit`; `media`: upload / delete | yes | yes |
"""
