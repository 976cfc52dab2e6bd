"""`POST /api/v1/webhooks/sms-inbound`: the SMS gateway hands over an SMS a person sent to one
of our numbers (docs/webhooks.md); sms_replies.py acts on it.

The body is JSON `{"id", "from", "to", "text"}`, or the form gateways post (Twilio's
`MessageSid`, `From`, `To`, `Body`; see FORM_NAMES). It is authenticated like the other provider
webhooks, `X-Drumbeat-Signature` = hex HMAC-SHA256 of the raw body under
DRUMBEAT_WEBHOOK_SECRET, or, for a form, Twilio's own `X-Twilio-Signature` made with that secret
as the auth token. The answer carries the text the gateway should send back to the person:
JSON `{"kind", "reply", "duplicate"}`, or TwiML `<Response><Message>…</Message></Response>` to
a form. 401 bad signature, 400 a malformed body, nothing changed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from xml.sax.saxutils import escape

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .sms_replies import Answer, IncomingSms, receive_sms
from .webhooks import PayloadError, signature_ok

MAX_TEXT = 10_000
FORM_NAMES = {  # our field: the names gateways post it under, ours first
    "id": ("id", "MessageSid", "SmsSid", "MessageUUID", "messageId"),
    "from": ("from", "From", "msisdn"),
    "to": ("to", "To"),
    "text": ("text", "Body", "Text"),
}
FORM_TYPE = "application/x-www-form-urlencoded"


def _error(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


def _is_form(request: HttpRequest) -> bool:
    return request.content_type == FORM_TYPE


def twilio_signature_ok(request: HttpRequest) -> bool:
    """Twilio's signature of a form POST: base64 HMAC-SHA1, under the auth token, of the URL
    it posted to (DRUMBEAT_BASE_URL + the path and query) followed by each parameter's name
    and value, in the order of the names (and of the values of a repeated name)."""
    given = request.headers.get("X-Twilio-Signature", "")
    if not given or not settings.WEBHOOK_SECRET:
        return False
    signed = settings.BASE_URL + request.get_full_path()
    for name in sorted(request.POST):
        signed += "".join(name + value for value in sorted(set(request.POST.getlist(name))))
    digest = hmac.new(settings.WEBHOOK_SECRET.encode(), signed.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(given.encode(), base64.b64encode(digest))


def _field(data: dict, name: str, required: bool, limit: int = 200) -> str:
    value = next((data[k] for k in FORM_NAMES[name] if k in data), None)
    if value is None or value == "":
        if required:
            raise PayloadError(f"'{name}' is required")
        return ""
    if not isinstance(value, str | int):
        raise PayloadError(f"'{name}' must be a string")
    value = str(value)
    if len(value) > limit:
        raise PayloadError(f"'{name}' is longer than {limit} characters")
    return value


def parse_incoming(request: HttpRequest) -> IncomingSms:
    """The SMS of a JSON or form body; PayloadError names what is wrong."""
    if _is_form(request):
        data: object = request.POST.dict()
    else:
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PayloadError(f"malformed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PayloadError("expected a JSON object {id, from, to, text}")
    return IncomingSms(
        provider_id=_field(data, "id", True).strip(),
        sender=_field(data, "from", True, 64).strip(),
        recipient=_field(data, "to", False, 64).strip(),
        text=_field(data, "text", False, MAX_TEXT),
    )


def _answer(answer: Answer, twiml: bool) -> HttpResponse:
    if twiml:
        message = f"<Message>{escape(answer.reply)}</Message>" if answer.reply else ""
        body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Response>{message}</Response>\n'
        return HttpResponse(body, content_type="application/xml; charset=utf-8")
    return JsonResponse(
        {"kind": answer.kind, "reply": answer.reply or None, "duplicate": answer.duplicate}
    )


@csrf_exempt
@require_POST
def sms_inbound(request: HttpRequest) -> HttpResponse:
    if not settings.WEBHOOK_SECRET:
        return _error(401, "webhooks are disabled: DRUMBEAT_WEBHOOK_SECRET is not set")
    if not (signature_ok(request) or (_is_form(request) and twilio_signature_ok(request))):
        return _error(401, "bad or missing X-Drumbeat-Signature")
    try:
        answer = receive_sms(parse_incoming(request))
    except PayloadError as exc:
        return _error(400, str(exc))
    except ValidationError as exc:
        return _error(400, " ".join(exc.messages))
    return _answer(answer, _is_form(request))
