"""Content-Security-Policy on every response (docs/product.md#users-and-access, issue 9).

Drumbeat's own pages load scripts and styles from our origin only: no inline script runs, no
plugin loads, no page may frame us, forms post back to us. Inline `style` attributes are
allowed (server-rendered charts and a few layout tweaks use them).

Pages that show user-authored email HTML (view online, `/v/<token>`) get a policy of their own:
images and styles from anywhere (newsletters reference them), still no script at all. A view
that sets its own Content-Security-Policy header keeps it.

`SecretsExceptionReporterFilter` keeps service credentials off debug pages and error reports;
`RefuseNulMiddleware` answers 400 to URLs carrying NUL characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views.debug import SafeExceptionReporterFilter

APP_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

EMAIL_VIEW_POLICY = "; ".join(
    [
        "default-src 'none'",
        "img-src * data:",
        "style-src * 'unsafe-inline'",
        "font-src * data:",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)

# Public routes that render user-authored email HTML (docs/architecture.md#interfaces).
EMAIL_VIEW_PREFIXES = ("/v/",)


def policy_for(path: str) -> str:
    return EMAIL_VIEW_POLICY if path.startswith(EMAIL_VIEW_PREFIXES) else APP_POLICY


class ContentSecurityPolicyMiddleware:
    """Adds the Content-Security-Policy header unless the view set one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy_for(request.path)
        return response


# --- Secrets in error reports ---------------------------------------------------------------

_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.I)


def redact_userinfo(text: str) -> str:
    """`text` with the user:password part of every URL in it replaced by `***`."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


class SecretsExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, plus: the Authorization header and the settings holding service URLs
    (DATABASE_URL, DRUMBEAT_EMAIL_URL with its SMTP password, the SMS gateway token, the
    broker) never show their credentials on a debug page or in an error report."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|AUTHORIZATION|DKIM|_URL$", flags=re.I
    )

    def cleanse_setting(self, key, value):
        value = super().cleanse_setting(key, value)
        if type(value) is str:  # noqa: E721 (lazy objects that merely look like str stay)
            return redact_userinfo(value)
        return value


# --- NUL characters -----------------------------------------------------------------------------


class RefuseNulMiddleware:
    """400 for a URL whose path or query string carries a NUL character. No Drumbeat value may
    contain one (forms and the API refuse them too) and PostgreSQL cannot even compare text
    with one: a search box or a tracking code with %00 would otherwise end in a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()
        ):
            message = "NUL characters are not allowed."
            if request.path.startswith("/api/"):  # the API answers errors as JSON everywhere
                return JsonResponse({"detail": message}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain")
        return self.get_response(request)
