"""The mailing app: channel checks, and designed templates kept in step with the brand kit
(saving the brand kit compiles every designed template again: its footer holds the sender's
name and address, its colours and fonts come from the kit)."""

from django.apps import AppConfig, apps
from django.db import transaction


def _brand_kit_saved(sender, **kwargs) -> None:
    from .services import recompile_designs

    transaction.on_commit(recompile_designs)


class MailingConfig(AppConfig):
    name = "drumbeat.mailing"
    label = "mailing"

    def ready(self) -> None:
        from django.core import checks
        from django.db.models.signals import post_save

        from .checks import check_channels

        checks.register(check_channels)
        brand_kit = apps.get_model("brand", "BrandKit")
        post_save.connect(_brand_kit_saved, sender=brand_kit, dispatch_uid="recompile-designs")
