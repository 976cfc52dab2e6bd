from django.contrib import admin

from .models import Lead, Stage


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin):
    list_display = ("name", "sequence", "is_won")


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ("title", "contact_name", "email", "salesperson", "priority", "stage", "active")
    list_filter = ("priority", "stage", "active")
    search_fields = ("title", "contact_name", "email")
    raw_id_fields = ("contact",)
    filter_horizontal = ("tags",)
