from django.contrib import admin

from .models import Event, Registration


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("name", "date_begin", "date_end", "location", "active")


@admin.register(Registration)
class RegistrationAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "event", "state", "created_at")
    list_filter = ("event", "state")
    search_fields = ("name", "email")
    raw_id_fields = ("contact",)
