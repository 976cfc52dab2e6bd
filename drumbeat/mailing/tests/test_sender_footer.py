"""Every marketing email carries the sender's name and postal address (issue 13 part 8): the
brand kit's (or DRUMBEAT_SENDER_NAME / _ADDRESS), added to the footer when the template's HTML
lacks it — checked on what a real SMTP server (aiosmtpd on loopback) receives."""

import pytest

from drumbeat.brand.kit import update_brand_kit
from drumbeat.mailing.sending import Recipient, send_emails

from .conftest import RENDER_FIELDS

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def send(template, recipient):
    send_emails(
        template,
        [Recipient(recipient.pk, recipient, recipient.email)],  # one trace per recipient
        campaign_id=3,
        activity_id=7,
        render_fields=RENDER_FIELDS,
        campaign_name="Spring sale",
    )


def test_the_footer_carries_the_settings_sender(smtp_sink, mail_settings, email_template, alice):
    mail_settings.SENDER_NAME = "Acme Shop"
    mail_settings.SENDER_ADDRESS = "12 Rue de la Loi, 1000 Brussels"

    send(email_template, alice)

    got = smtp_sink.received[0]
    html = got.part("text/html")
    footer = html[html.index("Unsubscribe</a>") :]
    assert "Acme Shop, 12 Rue de la Loi, 1000 Brussels" in footer
    assert "Acme Shop, 12 Rue de la Loi, 1000 Brussels" in got.part("text/plain")


def test_the_brand_kit_wins_and_a_new_address_reaches_the_next_send(
    smtp_sink, mail_settings, email_template, alice, bob
):
    mail_settings.SENDER_NAME = "Acme Shop"
    mail_settings.SENDER_ADDRESS = "12 Rue de la Loi, 1000 Brussels"
    update_brand_kit(
        sender_name="Bakery & Co", postal_address="3 Mill Lane\nLeeds LS1 4AP\n{{ x }}"
    )

    send(email_template, alice)
    update_brand_kit(postal_address="")  # empty: back to the setting's address
    send(email_template, bob)

    first, second = (r.part("text/html") for r in smtp_sink.received)
    # the address is text, never template code (the CSS inliner writes its braces back)
    assert "Bakery &amp; Co, 3 Mill Lane, Leeds LS1 4AP, {{ x }}</p>" in first
    assert "Bakery & Co, 3 Mill Lane, Leeds LS1 4AP, {{ x }}" in smtp_sink.received[0].part(
        "text/plain"
    )
    assert "Bakery &amp; Co, 12 Rue de la Loi, 1000 Brussels" in second
    assert "Mill Lane" not in second


def test_an_address_already_in_the_html_is_not_repeated(
    smtp_sink, mail_settings, email_template, alice
):
    mail_settings.SENDER_ADDRESS = "O'Brien & Sons\n12 Rue de la Loi, 1000 Brussels"
    email_template.body_html = email_template.body_html.replace(
        "</body>", "<p>O&#39;Brien &amp; Sons<br>12 Rue de la Loi, 1000 Brussels</p></body>"
    )
    email_template.body_text = "Hello {{ record.name }}"
    email_template.save()

    send(email_template, alice)

    got = smtp_sink.received[0]
    assert got.part("text/html").count("12 Rue de la Loi") == 1
    assert got.part("text/plain").splitlines()[-2:] == [
        "--",
        "O'Brien & Sons, 12 Rue de la Loi, 1000 Brussels",
    ]


def test_without_an_address_the_footer_is_unchanged(
    smtp_sink, mail_settings, email_template, alice
):
    mail_settings.SENDER_NAME = "Acme Shop"
    mail_settings.SENDER_ADDRESS = ""

    send(email_template, alice)

    assert "Acme Shop" not in smtp_sink.received[0].part("text/html")
