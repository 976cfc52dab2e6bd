from django.contrib import admin

from .models import FavoriteFilter


@admin.register(FavoriteFilter)
class FavoriteFilterAdmin(admin.ModelAdmin):
    list_display = ("name", "target", "owner", "shared", "created_at")
    list_filter = ("target",)
