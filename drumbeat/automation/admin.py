from django.contrib import admin

from .models import (
    Activity,
    Campaign,
    CampaignLog,
    FavoriteFilter,
    Participant,
    ServerAction,
    Trace,
)


@admin.register(FavoriteFilter)
class FavoriteFilterAdmin(admin.ModelAdmin):
    list_display = ("name", "target", "owner", "shared", "created_at")
    list_filter = ("target",)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "target", "state", "archived", "owner", "created_at")
    list_filter = ("state", "archived", "target")
    search_fields = ("name",)


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ("name", "campaign", "kind", "trigger", "delay_amount", "delay_unit")
    list_filter = ("kind", "trigger")


@admin.register(ServerAction)
class ServerActionAdmin(admin.ModelAdmin):
    list_display = ("name", "target", "kind", "parent")
    list_filter = ("kind", "target")


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ("campaign", "record_id", "unique_key", "state", "is_test", "enrolled_at")
    list_filter = ("state", "is_test")


@admin.register(Trace)
class TraceAdmin(admin.ModelAdmin):
    list_display = ("activity", "participant", "state", "scheduled_at", "executed_at", "reason")
    list_filter = ("state", "is_test")
    raw_id_fields = ("participant", "parent", "message")


@admin.register(CampaignLog)
class CampaignLogAdmin(admin.ModelAdmin):
    list_display = ("campaign", "action", "user", "at", "detail")
    list_filter = ("action",)
