"""The API alone, so its tests do not depend on the rest of the site's URLs."""

from django.urls import path

from drumbeat.api.main import api, unknown_route

urlpatterns = [
    path("api/v1/", api.urls),
    path("api/v1/<path:rest>", unknown_route),
]
