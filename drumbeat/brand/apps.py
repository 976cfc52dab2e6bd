"""The brand app (drumbeat.brand): registers its system checks of the media settings."""

from django.apps import AppConfig


class BrandConfig(AppConfig):
    name = "drumbeat.brand"
    label = "brand"
    verbose_name = "Brand"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the media settings' checks)
