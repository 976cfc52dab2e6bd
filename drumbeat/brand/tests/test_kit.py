"""The brand kit: what `current_brand()` returns (the kit, the settings filling an empty
sender), and the values the kit refuses, each naming its field."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from drumbeat.brand.kit import Brand, SocialLink, current_brand, update_brand_kit
from drumbeat.brand.media import add_media
from drumbeat.brand.models import BrandKit

from .conftest import image_bytes

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_a_fresh_instance_uses_the_settings(settings):
    settings.SENDER_NAME = "Acme"
    settings.SENDER_ADDRESS = "1 Main Street, Springfield"
    assert current_brand() == Brand(sender_name="Acme", postal_address="1 Main Street, Springfield")


def test_the_kit_overrides_the_settings_and_empty_fields_fall_back(settings, media_home):
    settings.SENDER_NAME = "Acme"
    settings.SENDER_ADDRESS = "1 Main Street, Springfield"
    logo = add_media(image_bytes("PNG"), "logo.png")[0]
    update_brand_kit(
        sender_name="  Bakery Ltd ",
        postal_address="",
        logo=logo,
        logo_width=200,
        primary_color="#AA0000",
        font="georgia",
        social_links=[{"network": "instagram", "url": "https://instagram.com/bakery"}],
    )
    brand = current_brand()
    assert brand.sender_name == "Bakery Ltd"
    assert brand.postal_address == "1 Main Street, Springfield"
    assert brand.logo_url == f"http://testserver/media/{logo.name}"
    assert (brand.logo_width, brand.primary_color) == (200, "#aa0000")
    assert brand.font_stack.startswith("Georgia")
    assert brand.social_links == (SocialLink("instagram", "https://instagram.com/bakery"),)
    assert BrandKit.objects.count() == 1

    update_brand_kit(logo=None, logo_url="https://cdn.example.com/logo.png")
    assert current_brand().logo_url == "https://cdn.example.com/logo.png"


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"primary_color": "red"}, "primary_color", "#rrggbb"),
        ({"link_color": "#12345"}, "link_color", "#rrggbb"),
        ({"background_color": "#12345g"}, "background_color", "#rrggbb"),
        ({"font": "comic-sans"}, "font", "not a valid choice"),
        ({"logo_url": "javascript:alert(1)"}, "logo_url", "http:// or https://"),
        ({"logo_width": 5000}, "logo_width", "less than or equal to 600"),
        ({"postal_address": "x" * 501}, "postal_address", "at most 500"),
        (
            {"social_links": [{"network": "myspace", "url": "https://myspace.com/a"}]},
            "social_links",
            "unknown network 'myspace'",
        ),
        (
            {"social_links": [{"network": "x", "url": "ftp://x.com/acme"}]},
            "social_links",
            "Link 1 (x): enter an http(s) URL",
        ),
        ({"social_links": [{"network": "x"}]}, "social_links", "exactly a network and a url"),
        ({"shoe_size": 42}, "shoe_size", "Not a brand kit field"),
    ],
)
def test_bad_values_name_their_field_and_change_nothing(changes, field, message):
    update_brand_kit(sender_name="Acme")
    with pytest.raises(ValidationError) as caught:
        update_brand_kit(sender_name="Changed", **changes)
    assert message in " ".join(caught.value.message_dict[field])
    assert BrandKit.objects.get().sender_name == "Acme"
