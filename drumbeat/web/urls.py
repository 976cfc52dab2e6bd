from django.contrib.auth import views as auth_views
from django.urls import path

from . import views, views_admin, views_filters, views_import, views_records
from .outbox import outbox, outbox_entry

records = "records/<slug:kind>/"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="web/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    # records
    path(records, views_records.record_list, name="record_list"),
    path(records + "new/", views_records.record_create, name="record_create"),
    path(records + "import/", views_import.import_start, name="record_import"),
    path(records + "import/<str:job>/", views_import.import_progress, name="import_progress"),
    path(records + "<int:pk>/", views_records.record_detail, name="record_detail"),
    path(records + "<int:pk>/edit/", views_records.record_edit, name="record_edit"),
    path(records + "<int:pk>/archive/", views_records.record_archive, name="record_archive"),
    path(records + "<int:pk>/restore/", views_records.record_restore, name="record_restore"),
    path(records + "<int:pk>/delete/", views_records.record_delete, name="record_delete"),
    path(records + "<int:pk>/unblacklist/", views_records.blacklist_lift, name="blacklist_lift"),
    path(records + "<int:pk>/blacklist/", views_records.blacklist_again, name="blacklist_again"),
    path(records + "<int:pk>/notes/", views_records.note_add, name="note_add"),
    path(records + "<int:pk>/tasks/", views_records.task_add, name="task_add"),
    path(records + "<int:pk>/tasks/<int:task_id>/done/", views_records.task_done, name="task_done"),
    # filter builder
    path("filters/<str:target>/fields/", views_filters.filter_fields, name="filter_fields"),
    path("filters/<str:target>/count/", views_filters.filter_count, name="filter_count"),
    path("filters/<str:target>/favorites/", views_filters.favorite_save, name="favorite_save"),
    # configuration (administrators)
    path("settings/", views_admin.settings_overview, name="settings_overview"),
    path("settings/users/", views_admin.user_list, name="user_list"),
    path("settings/users/new/", views_admin.user_create, name="user_create"),
    path("settings/users/<int:pk>/", views_admin.user_edit, name="user_edit"),
    path("settings/tokens/", views_admin.token_list, name="token_list"),
    path("settings/tokens/<int:pk>/revoke/", views_admin.token_revoke, name="token_revoke"),
    # outbox (outbox:// transport)
    path("outbox/", outbox, name="outbox"),
    path("outbox/<int:pk>/", outbox_entry, name="outbox_entry"),
]
