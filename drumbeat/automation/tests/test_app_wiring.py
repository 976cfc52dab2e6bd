from drumbeat.automation.targets import FILTERABLE
from drumbeat.mailing.rendering import registered_render_fields


def test_it_gives_mailing_the_placeholder_fields_for_view_online():
    assert registered_render_fields() == FILTERABLE
