from django.apps import AppConfig


class MailingConfig(AppConfig):
    name = "drumbeat.mailing"
    label = "mailing"

    def ready(self) -> None:
        from django.core import checks

        from .checks import check_channels

        checks.register(check_channels)
