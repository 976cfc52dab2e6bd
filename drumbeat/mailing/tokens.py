"""Per-message tokens carried by every public link (tracking, unsubscribe, view online) and by
the bounce+/reply+ addresses.

A token is 16 random hex digits followed by 16 hex digits of an HMAC-SHA256 of them under the
SECRET_KEY. Lower-case hex only, so it survives mail systems that fold the case of local parts.
Forged or altered tokens are refused before any database query (constant-time comparison);
a valid token names exactly one message, so it cannot be replayed onto another.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from django.conf import settings

NONCE_LENGTH = 16
SIGNATURE_LENGTH = 16
TOKEN_LENGTH = NONCE_LENGTH + SIGNATURE_LENGTH
_TOKEN_RE = re.compile(f"[0-9a-f]{{{TOKEN_LENGTH}}}")


def _signature(nonce: str) -> str:
    key = f"drumbeat.mailing.token:{settings.SECRET_KEY}".encode()
    return hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()[:SIGNATURE_LENGTH]


def make_token() -> str:
    nonce = secrets.token_hex(NONCE_LENGTH // 2)
    return nonce + _signature(nonce)


def is_valid_token(token: str) -> bool:
    """True when `token` was made by `make_token` with this SECRET_KEY."""
    token = (token or "").lower()
    if not _TOKEN_RE.fullmatch(token):
        return False
    nonce, signature = token[:NONCE_LENGTH], token[NONCE_LENGTH:]
    return hmac.compare_digest(signature, _signature(nonce))
