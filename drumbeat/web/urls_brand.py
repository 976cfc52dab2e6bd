"""Routes of Configuration → Brand kit and Media library (drumbeat/web/views_brand.py)."""

from django.urls import path

from . import views_brand

urlpatterns = [
    path("configuration/brand/", views_brand.brand_kit, name="brand_kit"),
    path("configuration/media/", views_brand.media_library, name="media_library"),
    path(
        "configuration/media/library.json",
        views_brand.media_library_json,
        name="media_library_json",
    ),
    path("configuration/media/<int:pk>/delete/", views_brand.media_delete, name="media_delete"),
]
