"""`drumbeat manage forget_person EMAIL --yes`: delete the records of one email address and
anonymise their messages, clicks and campaign history (a GDPR erasure request)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from drumbeat.automation.privacy import forget_person
from drumbeat.lib.normalize import email_error, normalize_email


class Command(BaseCommand):
    help = "Delete the records of an email address and anonymise their history."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--yes", action="store_true", help="do it (without: refuse)")
        parser.add_argument(
            "--drop-suppression",
            action="store_true",
            help="also delete the address from the email blacklist",
        )

    def handle(self, *args, email: str, yes: bool, drop_suppression: bool, **options):
        address = normalize_email(email)
        problem = email_error(address)
        if problem:
            raise CommandError(f"{email!r} is not an email address: {problem}")
        if not yes:
            raise CommandError("This deletes data for good: run again with --yes.")
        report = forget_person(address, keep_suppression=not drop_suppression)
        if not report.found:
            self.stdout.write(f"Nothing held about {address}.")
            return
        deleted = ", ".join(f"{n} {key}" for key, n in report.records.items() if n)
        self.stdout.write(
            f"Forgot {address}: deleted {deleted or 'no records'}, {report.notes} notes, "
            f"{report.tasks} tasks, {report.inbound_sms} inbound SMS; anonymised "
            f"{report.messages} messages, {report.clicks} clicks, {report.participants} "
            f"participants ({report.traces_cancelled} scheduled traces cancelled)."
            + (" The blacklist entry is kept." if report.suppression_kept else "")
        )
