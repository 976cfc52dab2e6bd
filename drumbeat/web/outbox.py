"""The outbox (`outbox://` transport): messages kept instead of delivered, for demos and
testing. Login required; any user may look (they are the product's own messages)."""

from __future__ import annotations

import email
import email.policy

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from drumbeat.mailing import sms_text
from drumbeat.mailing.models import OutboxEntry

PAGE_SIZE = 50


@login_required
def outbox(request: HttpRequest) -> HttpResponse:
    entries = OutboxEntry.objects.defer("raw")
    channel = request.GET.get("channel", "")
    if channel in {"email", "sms"}:
        entries = entries.filter(channel=channel)
    q = request.GET.get("q", "").strip()
    if q:
        entries = entries.filter(Q(recipient__icontains=q) | Q(subject__icontains=q))
    paginator = Paginator(entries, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    context = {"page": page, "paginator": paginator, "channel": channel, "q": q}
    return render(request, "web/outbox.html", context)


def _parts(raw: str) -> dict[str, object]:
    """Headers, HTML and text of a stored email (for display only)."""
    parsed = email.message_from_string(raw, policy=email.policy.default)
    html = text = ""
    for part in parsed.walk():
        if part.is_multipart():
            continue
        if part.get_content_type() == "text/html" and not html:
            html = part.get_content()
        elif part.get_content_type() == "text/plain" and not text:
            text = part.get_content()
    shown = (
        "From",
        "To",
        "Reply-To",
        "Subject",
        "Date",
        "Message-ID",
        "List-Unsubscribe",
        "List-Id",
        "Feedback-ID",
    )
    headers = [(name, str(parsed[name])) for name in shown if parsed[name]]
    return {"headers": headers, "html": html, "text": text.replace("\r\n", "\n")}


@login_required
def outbox_entry(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_object_or_404(OutboxEntry.objects.select_related("message"), pk=pk)
    context: dict[str, object] = {"entry": entry}
    if entry.channel == "email":
        context.update(_parts(entry.raw))
    else:
        context["sms_count"] = sms_text.count(entry.raw)
    return render(request, "web/outbox_entry.html", context)
