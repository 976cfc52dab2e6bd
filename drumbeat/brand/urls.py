"""Public routes of the brand app: the media files emails load."""

from django.urls import path

from .views import serve_media

urlpatterns = [path("media/<str:name>", serve_media, name="media_file")]
