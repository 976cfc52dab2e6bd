from django.contrib import admin
from django.urls import include, path

from drumbeat.api.main import api, unknown_route
from drumbeat.mailing.urls import webhook_urlpatterns

urlpatterns = [
    path("admin/", admin.site.urls),
    *webhook_urlpatterns,  # plain Django views, before the api/v1/ include
    path("api/v1/", api.urls),
    path("api/v1/<path:rest>", unknown_route),
    path("", include("drumbeat.mailing.urls")),
    path("", include("drumbeat.brand.urls")),
    path("", include("drumbeat.web.urls")),
]
