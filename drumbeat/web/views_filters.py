"""htmx/JSON endpoints of the filter builder: field catalogue, live count, favorites."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.db import IntegrityError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from drumbeat.automation.domains import DomainError, count_matching, parse_domain, validate_domain
from drumbeat.automation.models import FavoriteFilter
from drumbeat.automation.targets import Target, get_target

from .filter_builder import field_catalogue
from .records import kind_for_target


def _target(key: str) -> Target:
    try:
        return get_target(key)
    except KeyError:
        raise Http404("Unknown target.")


def favorite_rows(request: HttpRequest, target_key: str) -> list[dict]:
    """The favorites this user sees for a target, with their filter as JSON text."""
    rows = FavoriteFilter.objects.filter(
        Q(shared=True) | Q(owner=request.user), target=target_key
    ).order_by("name")
    return [{"name": f.name, "domain_json": json.dumps(f.domain)} for f in rows]


@login_required
def filter_fields(request: HttpRequest, target: str) -> JsonResponse:
    return JsonResponse(field_catalogue(_target(target)))


def count_context(target: Target, raw: str, include_archived: bool, extra_domain=None) -> dict:
    """Count (or error) for a filter, with the link to the matching records."""
    try:
        domain = parse_domain(raw)
        validate_domain(target, domain)
        full = domain
        if extra_domain:
            from drumbeat.automation.domains import combine_domains

            full = combine_domains(extra_domain, domain)
        count = count_matching(target, full, include_archived=include_archived)
    except DomainError as exc:
        return {"error": str(exc), "target": target}
    kind = kind_for_target(target.key)
    url = None
    if kind is not None:
        params = {"domain": json.dumps(full)} if full else {}
        url = reverse("record_list", kwargs={"kind": kind.slug})
        if params:
            url += "?" + urlencode(params)
    return {"count": count, "url": url, "target": target}


@login_required
def filter_count(request: HttpRequest, target: str) -> HttpResponse:
    """The live count under a filter builder (GET or POST: `domain`, `include_archived`)."""
    target_ = _target(target)
    data = request.POST if request.method == "POST" else request.GET
    include_archived = data.get("include_archived") in {"on", "true", "1"}
    extra = None
    if data.get("base_domain"):
        try:
            extra = parse_domain(data["base_domain"])
        except DomainError:
            extra = None
    raw = data.get(data.get("field") or "domain", "")
    context = count_context(target_, raw, include_archived, extra)
    return render(request, "web/filters/_count.html", context)


@require_POST
@login_required
def favorite_save(request: HttpRequest, target: str) -> HttpResponse:
    """Save the builder's filter as a favorite; answers the refreshed favorites menu."""
    target_ = _target(target)
    name = request.POST.get("name", "").strip()[:100]
    error = None
    try:
        domain = parse_domain(request.POST.get("domain", ""))
        validate_domain(target_, domain)
    except DomainError as exc:
        error = str(exc)
    if not name:
        error = "Give the favorite a name."
    if error is None:
        try:
            FavoriteFilter.objects.update_or_create(
                target=target_.key,
                name=name,
                defaults={"domain": domain, "owner": request.user, "shared": True},
            )
        except IntegrityError:
            error = "A favorite with this name exists."
    context = {
        "favorites": favorite_rows(request, target_.key),
        "fb_id": request.POST.get("fb_id", "fb"),
        "error": error,
        "saved": None if error else name,
    }
    return render(request, "web/filters/_favorites.html", context, status=400 if error else 200)
