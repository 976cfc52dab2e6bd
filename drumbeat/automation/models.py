from django.conf import settings
from django.db import models
from django.utils import timezone

from .targets import target_choices


class FavoriteFilter(models.Model):
    """A named filter saved for a target, to be reloaded in any filter editor."""

    name = models.CharField(max_length=100)
    target = models.CharField(max_length=64, choices=target_choices)
    domain = models.JSONField(default=list)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    shared = models.BooleanField(default=True, help_text="Visible to every user")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["target", "name"]
        constraints = [
            models.UniqueConstraint(fields=["target", "name"], name="uniq_favorite_filter_name")
        ]

    def __str__(self) -> str:
        return self.name
