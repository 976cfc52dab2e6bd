"""HTTP SMS gateway: one JSON POST per SMS with a bearer token taken from the URL's userinfo.

`https://TOKEN@sms.example.com/v1/messages` posts
`{"to": "+15551234567", "text": "...", "reference": "<our token>", "status_url": "...",
"encoding": "GSM-7" | "UCS-2", "segments": 1}` (sms_text.count).
2xx is accepted (a JSON `id` in the answer is kept), 408/429/5xx and network errors are
transient, other 4xx permanent. The token is never logged.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
from django.conf import settings

from .. import sms_text
from . import Delivery, Outgoing, TransportConfigError, redact_url

log = logging.getLogger(__name__)
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class HttpSmsTransport:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if not parts.hostname:
            raise TransportConfigError(f"no host in {redact_url(url)!r}")
        secret = parts.password if parts.password is not None else parts.username
        self.token = unquote(secret) if secret else ""
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        netloc = f"{host}:{parts.port}" if parts.port else host
        self.endpoint = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        self.client: httpx.Client | None = None

    def __enter__(self) -> HttpSmsTransport:
        headers = {"Content-Type": "application/json", "User-Agent": "Drumbeat"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self.client = httpx.Client(timeout=TIMEOUT, headers=headers)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def send(self, outgoing: Outgoing) -> Delivery:
        if self.client is None:
            self.__enter__()
        assert self.client is not None
        text = outgoing.data.decode("utf-8")
        counted = sms_text.count(text)
        payload = {
            "to": outgoing.recipient,
            "text": text,
            "reference": outgoing.reference,
            "status_url": f"{settings.BASE_URL}/api/v1/webhooks/sms-status",
            "encoding": counted.encoding,
            "segments": counted.segments,
        }
        try:
            response = self.client.post(self.endpoint, json=payload)
        except httpx.HTTPError as exc:
            log.warning("SMS gateway %s unreachable: %s", self.endpoint, type(exc).__name__)
            return Delivery(False, True, f"gateway unreachable: {type(exc).__name__}")
        if response.is_success:
            try:
                body = response.json()
            except ValueError:
                body = {}
            provider_id = str(body.get("id", "")) if isinstance(body, dict) else ""
            return Delivery(ok=True, provider_id=provider_id)
        reply = f"{response.status_code} {response.text[:300].strip()}".strip()
        transient = response.status_code in {408, 429} or response.status_code >= 500
        return Delivery(False, transient, reply)
