"""Public pages reached from messages (no login; docs/architecture.md#interfaces): open pixel,
tracked redirects, unsubscribe, view online, SMS stop.

Every route checks the signed token in constant time before touching the database; a forged,
altered or unknown token is a 404 with nothing changed. Recipient links never act on GET
(unsubscribe confirms first). Opens and clicks by link scanners and privacy proxies are
recorded but flagged as machine events.
"""

from __future__ import annotations

import base64
import functools
import re

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from drumbeat.lib import clock

from . import events, rendering, services, tracking
from .models import Message
from .sending import ensure_links, message_urls
from .tokens import is_valid_token

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
MACHINE_WINDOW = tracking.MACHINE_WINDOW
VIEW_ONLINE_CSP = (
    "sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation; "
    "default-src 'none'; img-src * data:; style-src 'unsafe-inline' *; font-src *"
)
SCANNER_AGENTS = re.compile(
    r"bot\b|bot/|crawler|spider|scanner|preview|barracuda|mimecast|proofpoint|messagelabs|"
    r"symantec|trend ?micro|fireeye|forcepoint|sophos|safelinks|urldefense|checkpoint|zscaler|"
    r"python-requests|python-urllib|curl/|wget/|go-http-client|okhttp|java/|libwww|httpclient|"
    r"headlesschrome|phantomjs",
    re.I,
)


def _message_for(token: str) -> Message:
    """The message of a valid token, or 404 (the signature is checked before any query)."""
    if not is_valid_token(token):
        raise Http404("unknown link")
    message = Message.objects.filter(token=token.lower()).first()
    if message is None:
        raise Http404("unknown link")
    return message


def is_machine_request(request: HttpRequest, message: Message | None) -> bool:
    just_sent = (
        message is not None
        and message.sent_at is not None
        and clock.now() - message.sent_at < MACHINE_WINDOW
    )
    return is_machine_agent(request) or just_sent


def is_machine_agent(request: HttpRequest) -> bool:
    """A HEAD request, no user agent or a scanner's."""
    return request.method == "HEAD" or is_scanner_agent(_user_agent(request))


@functools.lru_cache(maxsize=4096)
def is_scanner_agent(agent: str) -> bool:
    """No user agent or a scanner's (remembered: a few agents make most requests, and the
    search cost more than the rest of a tracked click)."""
    return not agent or bool(SCANNER_AGENTS.search(agent))


def _user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


# The tracking routes. `drumbeat serve` answers most of their requests without these views
# (serving.TrackingFastPath, from the same functions and responses); what it does not answer
# (refusals above all) comes here.


def pixel_response() -> HttpResponse:
    return HttpResponse(PIXEL, content_type="image/gif")


def redirect_response(url: str) -> HttpResponse:
    response = HttpResponseRedirect(url)
    response["Referrer-Policy"] = "no-referrer"
    return response


def track_open(request: HttpRequest, token: str) -> bool:
    return tracking.track_open(token, is_machine_agent(request))


def track_click(request: HttpRequest, code: str, token: str | None) -> str | None:
    machine = is_machine_agent(request)
    return tracking.track_click(code, token, machine, _client_ip(request), _user_agent(request))


@never_cache
@require_http_methods(["GET", "HEAD"])
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    if not track_open(request, token):
        raise Http404("unknown link")
    return pixel_response()


@never_cache
@require_http_methods(["GET", "HEAD"])
def click(request: HttpRequest, code: str, token: str | None = None) -> HttpResponse:
    """Redirect to the URL recorded for the link, and to nothing else."""
    url = track_click(request, code, token)
    if url is None:
        raise Http404("unknown link")  # also a token replayed onto another mailing's link
    return redirect_response(url)


def track_short_click(request: HttpRequest, code: str) -> str | None:
    machine = is_machine_agent(request)
    return tracking.track_short_click(code, machine, _client_ip(request), _user_agent(request))


@never_cache
@require_http_methods(["GET", "HEAD"])
def short_click(request: HttpRequest, code: str) -> HttpResponse:
    """An SMS's short link: redirect to the URL recorded for its link, and to nothing else."""
    url = track_short_click(request, code)
    if url is None:
        raise Http404("unknown link")
    return redirect_response(url)


@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a confirmation page (changes nothing). POST: unsubscribe, then offer the public
    lists again and ask for a reason (actions `resubscribe` and `reason`)."""
    message = _message_for(token)
    context = {"message": message, "token": message.token, "is_list": False}
    if request.method == "GET":
        return render(request, "mailing/public/unsubscribe.html", context)
    action = request.POST.get("action", "unsubscribe")
    notice = ""
    if action == "resubscribe":
        ids = [int(v) for v in request.POST.getlist("lists") if v.isdigit()]
        services.resubscribe_message(message, ids)
        notice = "Your subscriptions are saved."
    elif action == "reason":
        services.record_unsubscribe_reason(message, request.POST.get("reason", ""))
        notice = "Thank you for telling us."
    else:
        services.unsubscribe_message(message)
    context.update(
        is_list=services.is_list_mailing(message),
        lists=services.public_lists_for(message),
        notice=notice,
    )
    return render(request, "mailing/public/unsubscribed.html", context)


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe_one_click(request: HttpRequest, token: str) -> HttpResponse:
    """RFC 8058 one-click unsubscribe (POST by the mailbox provider, no page). A GET (a client
    that opens the URL in a browser) shows the confirmation page instead."""
    message = _message_for(token)
    if request.method == "GET":
        return HttpResponseRedirect(f"/u/{message.token}")
    services.unsubscribe_message(message)
    return HttpResponse("Unsubscribed.\n", content_type="text/plain")


@never_cache
@require_http_methods(["GET"])
def view_online(request: HttpRequest, token: str) -> HttpResponse:
    message = _message_for(token)
    if message.channel != Message.Channel.EMAIL or message.template is None:
        raise Http404("unknown link")
    html = render_online(message)
    if html is None:
        return render(request, "mailing/public/unavailable.html", status=410)
    events.mark_opened([message.pk], clock.now(), machine=is_machine_request(request, message))
    response = HttpResponse(html)
    # Author-written HTML on our origin: no scripts, no forms, an opaque origin.
    response["Content-Security-Policy"] = VIEW_ONLINE_CSP
    return response


def render_online(message: Message) -> str | None:
    """The message rendered again for its record (None when the record or template is gone or
    no longer renders)."""
    from django.apps import apps

    try:
        model = apps.get_model(message.record_model)
    except (LookupError, ValueError):
        return None
    record = model._default_manager.filter(pk=message.record_id).first()
    if record is None or message.template is None:
        return None
    render_fields = rendering.registered_render_fields()
    try:
        compiled = rendering.compile_email(message.template, render_fields)
        codes = ensure_links(
            message.template, compiled.links, message.campaign_id, message.activity_id
        )
        rendered = rendering.render_email(
            compiled, record, render_fields, message_urls(message.token, codes)
        )
    except rendering.RenderError:
        return None
    return rendered.html


@never_cache
@require_http_methods(["GET", "POST"])
def sms_stop(request: HttpRequest, token: str) -> HttpResponse:
    """SMS opt-out: the page asks for the phone number, then blacklists it."""
    message = _message_for(token)
    if message.channel != Message.Channel.SMS:
        raise Http404("unknown link")
    context: dict[str, object] = {"token": message.token, "done": False, "error": ""}
    if request.method == "POST":
        number = request.POST.get("number", "")
        if services.stop_sms(message, number):
            context["done"] = True
        else:
            context["error"] = "This number does not match the one this message was sent to."
            context["number"] = number[:32]
    return render(request, "mailing/public/sms_stop.html", context)
