"""The template services with designs: compiled on save, refused with JSON paths, turned into
HTML, compiled again when the brand changes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from drumbeat.mailing import services
from drumbeat.mailing.tests.conftest import RENDER_FIELDS

from .helpers import block, design, footer, full_design, section

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def create(data, **fields):
    return services.create_template(
        RENDER_FIELDS,
        name="Spring",
        kind="email",
        target="contacts.contact",
        subject="Hi {{ record.name }}",
        design=data,
        **fields,
    )


def test_saving_compiles_the_design_with_the_current_brand(settings):
    settings.SENDER_NAME, settings.SENDER_ADDRESS = "Acme", "1 Main Street"
    template = create(full_design())
    template.refresh_from_db()
    assert "Hello {{ record.name }}" in template.body_html
    assert "Acme &middot; 1 Main Street" in template.body_html
    assert template.design["sections"][2]["columns"][0]["blocks"][0]["thickness"] == 1


def test_an_invalid_design_is_refused_naming_paths_and_nothing_is_saved():
    with pytest.raises(ValidationError) as caught:
        create(design(section("s1", [block("spacer", "s", height=1)])))
    assert caught.value.message_dict == {
        "design.sections[0].columns[0].blocks[0].height": ["must be between 4 and 120"]
    }
    with pytest.raises(ValidationError) as caught:
        create(design(section("s1", [block("heading", "h", text="{{ record.x }}"), footer()])))
    assert list(caught.value.message_dict) == ["design.sections[0].columns[0].blocks[0].text"]


def test_convert_to_html_keeps_the_compiled_html():
    template = create(full_design())
    html = template.body_html
    services.convert_to_html(template)
    template.refresh_from_db()
    assert template.design is None and template.body_html == html
    services.update_template(template, RENDER_FIELDS, body_html=html.replace("Hello", "Hey"))
    assert "Hey {{ record.name }}" in template.body_html


def test_recompile_designs_follows_the_brand(settings):
    settings.SENDER_ADDRESS = "1 Main Street"
    template = create(full_design())
    html = services.create_template(
        RENDER_FIELDS, name="Plain", target="contacts.contact", subject="x", body_html="<p>x</p>"
    )
    settings.SENDER_ADDRESS = "2 Side Street"
    assert services.recompile_designs() == 1
    template.refresh_from_db()
    assert "2 Side Street" in template.body_html and "1 Main Street" not in template.body_html
    html.refresh_from_db()
    assert html.body_html == "<p>x</p>"
    assert services.recompile_designs() == 0  # nothing changed
