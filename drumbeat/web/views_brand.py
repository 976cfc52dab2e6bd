"""Configuration → Brand kit (the sender's name, postal address, logo, colours, fonts and social
links, with a live preview of an email's header and footer) and Configuration → Media library
(upload, copy the public URL, delete), plus the session-authenticated JSON endpoint the email
editor's image picker lists and uploads with."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from drumbeat.brand import media as media_service
from drumbeat.brand.kit import (
    FONT_STACKS,
    SOCIAL_NETWORKS,
    brand_from_kit,
    get_kit,
    update_brand_kit,
)
from drumbeat.brand.models import MediaFile, validate_social_links
from drumbeat.lib.security import APP_POLICY
from drumbeat.mailing.models import Template

from .forms import apply_service_errors

FONT_LABELS = {
    "helvetica": "Helvetica",
    "arial": "Arial",
    "verdana": "Verdana",
    "tahoma": "Tahoma",
    "trebuchet": "Trebuchet MS",
    "georgia": "Georgia (serif)",
    "times": "Times New Roman (serif)",
    "courier": "Courier New (monospace)",
}
NETWORK_LABELS = {
    "facebook": "Facebook",
    "x": "X (Twitter)",
    "instagram": "Instagram",
    "linkedin": "LinkedIn",
    "youtube": "YouTube",
    "tiktok": "TikTok",
    "website": "Website",
}
COLORS = [
    ("primary_color", "Primary (buttons)"),
    ("text_color", "Text"),
    ("link_color", "Links"),
    ("background_color", "Background"),
    ("content_background_color", "Content area"),
]
ACCEPTED = "PNG, JPEG, GIF or WebP"
ACCEPT_ATTR = "image/png,image/jpeg,image/gif,image/webp"
# The brand kit page previews an external logo URL: images may come from any https site there.
BRAND_PAGE_POLICY = APP_POLICY.replace("img-src 'self' data:", "img-src 'self' data: blob: https:")


def limit_text() -> str:
    return f"{ACCEPTED}, up to {media_service.human_size(settings.MEDIA_MAX_BYTES)}"


def local_src(media: MediaFile) -> str:
    """The file as this site serves it (the public URL may be a CDN the page's CSP refuses)."""
    return reverse("media_file", args=[media.name])


class ColorInput(forms.TextInput):
    input_type = "color"


class BrandKitForm(forms.Form):
    sender_name = forms.CharField(
        max_length=200,
        required=False,
        label="Sender name",
        help_text="Shown in every email's footer.",
    )
    postal_address = forms.CharField(
        max_length=500,
        required=False,
        label="Postal address",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required by anti-spam laws in every marketing email (CAN-SPAM, CASL…).",
    )
    logo = forms.ModelChoiceField(
        MediaFile.objects.order_by("-created_at"),
        required=False,
        label="Logo from the library",
        empty_label="— none —",
    )
    logo_upload = forms.FileField(
        required=False,
        label="…or upload a new logo",
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT_ATTR}),
    )
    logo_url = forms.CharField(
        max_length=500,
        required=False,
        label="…or logo URL",
        help_text="An https:// image elsewhere, used when no library logo is chosen.",
    )
    logo_width = forms.IntegerField(
        min_value=16, max_value=600, label="Logo width (px)", help_text="16 to 600 pixels."
    )
    font = forms.ChoiceField(choices=list(FONT_LABELS.items()), label="Text font")
    heading_font = forms.ChoiceField(choices=list(FONT_LABELS.items()), label="Heading font")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in COLORS:
            self.fields[name] = forms.RegexField(
                regex=r"^#[0-9a-fA-F]{6}$",
                label=label,
                widget=ColorInput(attrs={"data-preview": name}),
                error_messages={"invalid": "Enter a colour as #rrggbb."},
            )
        self.fields["logo"].label_from_instance = lambda m: (
            f"{m.original_name or m.name} ({m.width}×{m.height})"
        )
        self.fields["logo_upload"].help_text = limit_text() + "."
        for name in ("sender_name", "postal_address", "logo_url", "logo_width"):
            self.fields[name].widget.attrs["data-preview"] = name
        for name in ("font", "heading_font", "logo"):
            self.fields[name].widget.attrs["data-preview"] = name

    def color_fields(self):
        return [self[name] for name, _ in COLORS]


def _social_rows(links: list[dict]) -> list[dict]:
    """The rows of the social links editor: the links and one empty row to add to."""
    return [*links, {"network": "", "url": ""}]


def _posted_social_links(request: HttpRequest) -> list[dict]:
    networks = request.POST.getlist("social_network")
    urls = request.POST.getlist("social_url")
    links = []
    for network, url in zip(networks, urls, strict=False):
        network, url = network.strip(), url.strip()
        if network or url:
            links.append({"network": network, "url": url})
    return links


def _brand_page(request, form, kit, social_links, social_error="", status=200):
    logos = {
        str(m.pk): local_src(m) for m in MediaFile.objects.only("pk", "name").order_by("-id")[:200]
    }
    brand = brand_from_kit(kit)
    preview_logo = local_src(kit.logo) if kit.logo_id else kit.logo_url
    context = {
        "form": form,
        "kit": kit,
        "brand": brand,
        "preview_logo": preview_logo,
        "social_rows": _social_rows(social_links),
        "social_error": social_error,
        "networks": [(key, NETWORK_LABELS.get(key, key)) for key in SOCIAL_NETWORKS],
        "network_labels": NETWORK_LABELS,
        "font_stacks": FONT_STACKS,
        "logo_sources": logos,
        "settings_name": settings.SENDER_NAME,
        "settings_address": settings.SENDER_ADDRESS,
    }
    response = render(request, "web/brand/kit.html", context, status=status)
    response["Content-Security-Policy"] = BRAND_PAGE_POLICY
    return response


@login_required
def brand_kit(request: HttpRequest) -> HttpResponse:
    kit = get_kit()
    initial = {
        "sender_name": kit.sender_name,
        "postal_address": kit.postal_address,
        "logo": kit.logo_id,
        "logo_url": kit.logo_url,
        "logo_width": kit.logo_width,
        "font": kit.font,
        "heading_font": kit.heading_font,
        **{name: getattr(kit, name) for name, _ in COLORS},
    }
    if request.method != "POST":
        return _brand_page(request, BrandKitForm(initial=initial), kit, kit.social_links)
    form = BrandKitForm(request.POST, request.FILES, initial=initial)
    social_links = _posted_social_links(request)
    social_error = ""
    if form.is_valid():
        data = dict(form.cleaned_data)
        upload = data.pop("logo_upload")
        try:
            if upload:
                data["logo"] = media_service.upload_media(upload, request.user)[0]
            update_brand_kit(**data, social_links=social_links)
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
            social_error = " ".join(errors.pop("social_links", []))
            if "file" in errors:
                errors["logo_upload"] = errors.pop("file")
            if errors:
                apply_service_errors(form, ValidationError(errors))
        else:
            messages.success(request, "Brand kit saved.")
            return redirect("brand_kit")
    else:  # say what is wrong with the links now too, not after the next submit
        try:
            validate_social_links(social_links)
        except ValidationError as exc:
            social_error = " ".join(exc.messages)
    if social_error and not form.errors:
        form.add_error(None, "Check the social links below.")
    # the page shows what was typed, on the kit as saved
    return _brand_page(request, form, kit, social_links, social_error, status=422)


# --- media library -----------------------------------------------------------------------------


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Image",
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT_ATTR}),
        error_messages={"required": "Choose an image file to upload."},
    )


def _template_uses(files: list[MediaFile]) -> dict[int, list[Template]]:
    """Which email templates show each file (its name in their HTML), in one query."""
    uses: dict[int, list[Template]] = {f.pk: [] for f in files}
    if not files:
        return uses
    templates = Template.objects.filter(kind="email").only("pk", "name", "body_html")
    for template in templates:
        source = template.body_html or ""
        for f in files:
            if f.name in source:
                uses[f.pk].append(template)
    return uses


def _media_page(request, form, status=200):
    files = list(MediaFile.objects.order_by("-created_at", "-id")[:500])
    kit = get_kit()
    uses = _template_uses(files)
    for f in files:
        f.src = local_src(f)
        f.is_logo = f.pk == kit.logo_id
        f.templates = uses[f.pk]
        f.human_size = media_service.human_size(f.size)
        f.kind = f.content_type.split("/")[-1].upper()
    context = {
        "form": form,
        "files": files,
        "limit": limit_text(),
        "total": media_service.human_size(sum(f.size for f in files)),
    }
    return render(request, "web/brand/media.html", context, status=status)


@login_required
def media_library(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _media_page(request, UploadForm())
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            media, created = media_service.upload_media(form.cleaned_data["file"], request.user)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            if created:
                messages.success(request, f"“{media}” uploaded.")
            else:
                messages.info(request, f"This image is already in the library as “{media}”.")
            return redirect("media_library")
    return _media_page(request, form, status=422)


@login_required
@require_POST
def media_delete(request: HttpRequest, pk: int) -> HttpResponse:
    media = get_object_or_404(MediaFile, pk=pk)
    try:
        media_service.delete_media(media)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"“{media}” deleted.")
    return redirect("media_library")


# --- JSON for the email editor's image picker -------------------------------------------------


def media_json(media: MediaFile) -> dict:
    return {
        "id": media.pk,
        "name": media.name,
        "original_name": media.original_name,
        "content_type": media.content_type,
        "size": media.size,
        "width": media.width,
        "height": media.height,
        "url": media.url,
        "thumbnail_url": local_src(media),
        "created_at": media.created_at.isoformat(),
    }


@require_http_methods(["GET", "POST"])
def media_library_json(request: HttpRequest) -> JsonResponse:
    """GET: {"items": [file…], "max_bytes", "accepted"} (newest first, at most 500).
    POST (multipart, image in `file`, X-CSRFToken header): 201 {"item": file} for a new file,
    200 for bytes already in the library, 422 {"detail", "errors": [{"field": "file", …}]}."""
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Sign in to use the media library."}, status=401)
    if request.method == "GET":
        files = MediaFile.objects.order_by("-created_at", "-id")[:500]
        return JsonResponse(
            {
                "items": [media_json(f) for f in files],
                "max_bytes": settings.MEDIA_MAX_BYTES,
                "accepted": ACCEPT_ATTR.split(","),
            }
        )
    try:
        media, created = media_service.upload_media(request.FILES.get("file"), request.user)
    except ValidationError as exc:
        message = " ".join(exc.message_dict.get("file", exc.messages))
        return JsonResponse(
            {"detail": f"file: {message}", "errors": [{"field": "file", "message": message}]},
            status=422,
        )
    return JsonResponse({"item": media_json(media)}, status=201 if created else 200)
