from django.contrib import admin

from .models import Note, Task


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ("content_type", "object_id", "body", "author", "created_at")
    list_filter = ("content_type",)


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("summary", "kind", "due_date", "assigned_to", "done", "content_type")
    list_filter = ("kind", "done", "content_type")
