"""Generated templates: validation never crashes, and what it accepts renders or fails cleanly."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drumbeat.mailing.models import Template
from drumbeat.mailing.rendering import preview, validate_template

from .conftest import RENDER_FIELDS

PIECES = [
    "{{ record.name }}", "{{ record.email|upper }}", "{{ record.__class__ }}", "{{ ''.__class__ }}",
    "{% for t in record.tags %}", "{% endfor %}", "{% if record.name %}", "{% endif %}",
    "{{ record.tags[0].name }}", "{{ record['name'] }}", "{{ record[0] }}", "{{ x }}",
    "{% set y = record.name %}{{ y }}", "{{ record.name|attr('x') }}", "{% import 'a' as b %}",
    "{{", "}}", "{%", "%}", "<a href=\"https://example.com/x\">x</a>", "<p>", "</p>",
    "{{ record.tags|map(attribute='name')|join(', ') }}",
    "{{ record.tags|map(attribute='_meta')|list }}",
    "{{ (record.name ~ 'x').format() }}", "{{ 1/0 }}", "{{ record.company_name or 'x' }}",
]  # fmt: skip


@st.composite
def sources(draw):
    parts = draw(st.lists(st.sampled_from(PIECES) | st.text(max_size=8), max_size=8))
    return "".join(parts)


@pytest.mark.django_db
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=sources())
def test_it_never_crashes_and_never_leaks_internals(alice, body):
    template = Template(
        name="t", kind="email", target="contacts.contact", subject="s", body_html=body
    )

    problems = validate_template(template, RENDER_FIELDS)

    assert all(p.line >= 1 and p.reason for p in problems)
    result = preview(template, alice, RENDER_FIELDS)
    if problems:
        assert result.problems and not result.html
    else:
        assert result.error.startswith("render failed") or result.html
    for leak in ("<class", "_meta", "object at 0x", "Options for"):
        assert leak not in result.html
