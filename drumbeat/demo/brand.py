"""The demo's brand (`drumbeat demo`, scripts/screenshots.py): a brand kit for the shop the demo
markets ("Harbor & Pine"), with a logo and a few images in the media library, drawn here with
Pillow so the demo needs no binary files. Idempotent: nothing happens once a kit exists."""

from __future__ import annotations

import io

from django.db import transaction

from drumbeat.brand.kit import update_brand_kit
from drumbeat.brand.media import add_media
from drumbeat.brand.models import BrandKit

TEAL, DEEP, SAND, SKY = (15, 118, 110), (19, 78, 74), (240, 228, 205), (186, 222, 236)


def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _encode(image, kind: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **options)
    return buffer.getvalue()


def _tree(draw, x: int, base: int, height: int, color) -> None:
    for step in range(3):
        top = base - height + step * height // 4
        half = height // 4 + step * height // 10
        draw.polygon(
            [(x, top), (x - half, top + height // 2), (x + half, top + height // 2)], color
        )
    draw.rectangle([x - height // 20, base - height // 8, x + height // 20, base], color)


def logo() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (720, 192), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse([8, 8, 184, 184], fill=TEAL)
    _tree(draw, 96, 158, 120, (255, 255, 255))
    draw.text((212, 40), "Harbor & Pine", font=_font(72), fill=DEEP)
    draw.text((216, 124), "OUTFITTERS · GHENT", font=_font(34), fill=TEAL)
    return _encode(image, "PNG", optimize=True)


def hero() -> bytes:
    from PIL import Image, ImageDraw

    width, height = 1200, 600
    image = Image.new("RGB", (width, height), SKY)
    draw = ImageDraw.Draw(image)
    for y in range(height // 2):  # sky, lighter towards the horizon
        shade = y / (height / 2)
        color = tuple(
            int(a + (b - a) * shade) for a, b in zip((120, 180, 215), (230, 240, 238), strict=True)
        )
        draw.line([(0, y), (width, y)], fill=color)
    draw.ellipse([880, 70, 990, 180], fill=(255, 214, 140))
    draw.polygon([(0, 380), (260, 150), (520, 380)], fill=(96, 125, 139))
    draw.polygon([(330, 380), (640, 110), (960, 380)], fill=(84, 110, 122))
    draw.polygon([(700, 380), (980, 190), (1200, 330), (1200, 380)], fill=(104, 135, 148))
    draw.rectangle([0, 380, width, height], fill=(52, 120, 140))
    for x in range(0, width, 46):
        _tree(draw, x + 20, 420 + (x * 7) % 30, 110 + (x * 13) % 50, DEEP)
    draw.rectangle([0, 470, width, height], fill=(46, 108, 128))
    return _encode(image, "JPEG", quality=82, optimize=True)


def sale_banner() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (1200, 400), SAND)
    draw = ImageDraw.Draw(image)
    for i, color in enumerate([(214, 93, 47), (232, 140, 60), (191, 64, 40)]):
        draw.ellipse([850 + i * 100, 50 + i * 60, 1050 + i * 100, 250 + i * 60], fill=color)
    draw.text((70, 110), "Autumn sale", font=_font(110), fill=DEEP)
    draw.text((76, 250), "-25% on every jacket this week", font=_font(46), fill=TEAL)
    return _encode(image, "WEBP", quality=80)


def badge() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("P", (240, 240), 0)
    image.putpalette([255, 255, 255, *TEAL, *SAND] + [0] * (256 - 3) * 3)
    draw = ImageDraw.Draw(image)
    draw.ellipse([10, 10, 230, 230], fill=1)
    draw.ellipse([34, 34, 206, 206], outline=2, width=6)
    draw.text((120, 104), "NEW", font=_font(58), fill=2, anchor="mm")
    draw.text((120, 156), "in store", font=_font(30), fill=2, anchor="mm")
    return _encode(image, "GIF", transparency=0)


def backpack() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (800, 800), (244, 241, 234))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle([230, 150, 570, 700], radius=90, fill=(214, 93, 47))
    draw.rounded_rectangle([280, 420, 520, 640], radius=40, fill=(186, 74, 36))
    draw.rounded_rectangle([300, 90, 500, 200], radius=50, outline=(120, 50, 25), width=22)
    draw.rectangle([270, 300, 530, 330], fill=DEEP)
    return _encode(image, "PNG", optimize=True)


def seed_brand() -> None:
    """The demo's brand kit and media library, unless a brand kit exists already."""
    if BrandKit.objects.exists():
        return
    with transaction.atomic():
        mark = add_media(logo(), "harbor-and-pine-logo.png")[0]
        add_media(hero(), "spring-hero.jpg")
        add_media(backpack(), "trail-backpack.png")
        add_media(sale_banner(), "autumn-sale.webp")
        add_media(badge(), "new-in-store.gif")
        update_brand_kit(
            sender_name="Harbor & Pine Outfitters",
            postal_address="Korenlei 42\n9000 Ghent\nBelgium",
            logo=mark,
            logo_width=220,
            primary_color="#0f766e",
            text_color="#1f2937",
            background_color="#eef2f0",
            content_background_color="#ffffff",
            link_color="#0f766e",
            font="helvetica",
            heading_font="georgia",
            social_links=[
                {"network": "instagram", "url": "https://instagram.com/harborandpine"},
                {"network": "facebook", "url": "https://facebook.com/harborandpine"},
                {"network": "website", "url": "https://harborandpine.example"},
            ],
        )
