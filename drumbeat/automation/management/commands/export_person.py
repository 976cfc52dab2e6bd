"""`drumbeat manage export_person EMAIL`: print everything held about one email address as JSON
(a GDPR access request)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder

from drumbeat.automation.privacy import export_person
from drumbeat.lib.normalize import email_error, normalize_email


class Command(BaseCommand):
    help = "Print as JSON everything Drumbeat holds about one email address."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email: str, **options):
        address = normalize_email(email)
        problem = email_error(address)
        if problem:
            raise CommandError(f"{email!r} is not an email address: {problem}")
        data = export_person(address)
        self.stdout.write(json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False))
