"""Who may see what. Every view is behind `login_required`; the administrator-only pages
(users, API tokens, settings, blacklists — docs/product.md#users-and-access) are behind
`admin_required`, which answers 403 to marketing users. Objects are fetched with the
`get_<object>_for_user` helpers, which raise 404 for a missing object and 403 for one the user may
not see."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from .records import RecordKind, get_kind


def is_admin(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_administrator", False))


def admin_required(view: Callable) -> Callable:
    """login_required, then 403 for users who are not administrators."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if not is_admin(request):
            raise PermissionDenied("Only administrators can open this page.")
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def get_kind_for_user(request: HttpRequest, slug: str) -> RecordKind:
    """The record kind `slug` (404 when unknown, 403 when admin-only for a marketing user)."""
    try:
        kind = get_kind(slug)
    except KeyError:
        raise Http404("No such kind of record.")
    if kind.admin_only and not is_admin(request):
        raise PermissionDenied("Only administrators can manage this list.")
    return kind


def get_record_for_user(request: HttpRequest, slug: str, pk: int):
    """(kind, record) for a record page; archived records stay reachable by URL."""
    kind = get_kind_for_user(request, slug)
    return kind, get_object_or_404(kind.model._default_manager, pk=pk)


def get_campaign_for_user(request: HttpRequest, pk: int):
    """A campaign page's campaign. Every signed-in user builds and runs campaigns."""
    from drumbeat.automation.models import Campaign

    return get_object_or_404(Campaign, pk=pk)
