"""Administrator pages: users and roles, API tokens, settings overview
(docs/product.md#users-and-access)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.password_validation import validate_password
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from drumbeat.accounts.models import ApiToken, User

from .access import admin_required


class UserForm(forms.ModelForm):
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the current password.",
    )

    class Meta:
        model = User
        fields = ["username", "first_name", "last_name", "email", "role", "is_active"]
        labels = {"is_active": "Active (can log in)"}

    def __init__(self, *args, editor: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.editor = editor
        if self.instance.pk is None:
            self.fields["password"].required = True
            self.fields["password"].help_text = "At least 8 characters."

    def clean_password(self):
        password = self.cleaned_data.get("password")
        if password:
            validate_password(password, self.instance)
        return password

    def clean(self):
        data = super().clean()
        if self.instance.pk == self.editor.pk:
            if data.get("role") != User.Role.ADMIN and not self.editor.is_superuser:
                self.add_error("role", "You cannot remove your own administrator role.")
            if data.get("is_active") is False:
                self.add_error("is_active", "You cannot deactivate yourself.")
        return data

    def save(self, commit: bool = True) -> User:
        user = super().save(commit=False)
        if self.cleaned_data.get("password"):
            user.set_password(self.cleaned_data["password"])
        if commit:
            user.save()
        return user


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What it is for, e.g. “CRM sync”")
    user = forms.ModelChoiceField(
        User.objects.filter(is_active=True).order_by("username"),
        help_text="The API acts with this user's rights.",
    )


@admin_required
def user_list(request: HttpRequest) -> HttpResponse:
    users = User.objects.order_by("username")
    return render(request, "web/admin/users.html", {"users": users})


@admin_required
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserForm(request.POST or None, editor=request.user)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        messages.success(request, f"User {user.username} created.")
        return redirect("user_list")
    return render(request, "web/admin/user_form.html", {"form": form})


@admin_required
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(User, pk=pk)
    form = UserForm(request.POST or None, instance=account, editor=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"User {account.username} saved.")
        return redirect("user_list")
    return render(request, "web/admin/user_form.html", {"form": form, "account": account})


@admin_required
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None, initial={"user": request.user})
    raw = None
    if request.method == "POST" and form.is_valid():
        token, raw = ApiToken.issue(form.cleaned_data["user"], form.cleaned_data["name"])
        form = TokenForm(initial={"user": request.user})
    tokens = ApiToken.objects.select_related("user").order_by("revoked_at", "-created_at")
    return render(
        request, "web/admin/tokens.html", {"tokens": tokens, "form": form, "raw_token": raw}
    )


@require_POST
@admin_required
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk)
    token.revoke()
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("token_list")


def describe_url(url: str) -> str:
    """A transport URL for display: scheme and host, never the credentials."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    # An HTTP SMS gateway carries its bearer token as the user part: never shown.
    user = "***@" if parts.username or parts.password else ""
    path = parts.path if parts.path not in {"", "/"} else ""
    return f"{parts.scheme}://{user}{host}{path}"


def _transport_label(url: str) -> str:
    scheme = urlsplit(url).scheme
    return {
        "outbox": "Outbox (stored, viewable at /outbox)",
        "smtp": "SMTP",
        "smtp+starttls": "SMTP with STARTTLS",
        "smtps": "SMTP over TLS",
        "http": "HTTP gateway",
        "https": "HTTPS gateway",
    }.get(scheme, scheme or "—")


def dkim_status() -> tuple[str, str]:
    """(badge class, text) describing the DKIM configuration."""
    domain, selector, key = settings.DKIM_DOMAIN, settings.DKIM_SELECTOR, settings.DKIM_KEY_FILE
    if not (domain or selector or key):
        return "muted", "Not configured: messages are sent unsigned."
    if not (domain and selector and key):
        return "danger", "Incomplete: set DRUMBEAT_DKIM_DOMAIN, _SELECTOR and _KEY_FILE."
    path = Path(key)
    if not path.is_file():
        return "danger", f"Key file {key} is missing."
    try:
        path.read_bytes()
    except OSError as exc:
        return "danger", f"Key file cannot be read: {exc.strerror}."
    return "ok", f"Signing as {selector}._domainkey.{domain}"


@admin_required
def settings_overview(request: HttpRequest) -> HttpResponse:
    db = settings.DATABASES["default"]
    if settings.IS_POSTGRES:
        database = f"PostgreSQL on {db.get('HOST') or 'local socket'} / {db.get('NAME')}"
    else:
        database = f"SQLite at {db.get('NAME')}"
    dkim_class, dkim_text = dkim_status()
    context = {
        "email_transport": _transport_label(settings.EMAIL_URL),
        "email_url": describe_url(settings.EMAIL_URL),
        "sms_transport": _transport_label(settings.SMS_URL),
        "sms_url": describe_url(settings.SMS_URL),
        "base_url": settings.BASE_URL,
        "from_email": settings.FROM_EMAIL,
        "inbound_domain": settings.INBOUND_DOMAIN,
        "dkim_class": dkim_class,
        "dkim_text": dkim_text,
        "runner": "Distributed (Celery workers)" if settings.BROKER_URL else "Embedded runner",
        "broker": describe_url(settings.BROKER_URL),
        "tick": settings.TICK_SECONDS,
        "batch": settings.BATCH_SIZE,
        "database": database,
        "vendor": connection.vendor,
        "home": settings.HOME,
        "webhook_secret_set": bool(settings.WEBHOOK_SECRET),
        "invalid": list(getattr(settings, "INVALID_SETTINGS", [])),
        **_media_overview(),
    }
    return render(request, "web/admin/settings.html", context)


def _media_overview() -> dict:
    """The sender and media library settings for the overview (a bad storage URL is named)."""
    from drumbeat.brand.media import human_size
    from drumbeat.brand.storage import StorageConfigError, get_store
    from drumbeat.lib.security import redact_userinfo

    try:
        storage = redact_userinfo(get_store().describe())
    except StorageConfigError as exc:
        storage = f"invalid DRUMBEAT_MEDIA_URL: {exc}"
    return {
        "sender_name": settings.SENDER_NAME,
        "sender_address": settings.SENDER_ADDRESS,
        "media_storage": storage,
        "media_public_url": settings.MEDIA_PUBLIC_URL,
        "media_max": human_size(settings.MEDIA_MAX_BYTES),
    }
