"""The channel fixtures of the mailing tests (real SMTP server, records, settings)."""

from drumbeat.mailing.tests.conftest import alice, mail_settings, smtp_sink  # noqa: F401
