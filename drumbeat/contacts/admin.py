from django.contrib import admin

from .models import Contact, Tag


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ("name",)


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "phone", "company_name", "country", "salesperson", "active")
    list_filter = ("active", "country", "tags")
    search_fields = ("name", "email", "company_name")
    filter_horizontal = ("tags",)
