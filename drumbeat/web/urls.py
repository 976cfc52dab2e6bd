from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import (
    views,
    views_admin,
    views_campaigns,
    views_config,
    views_filters,
    views_import,
    views_pressure,
    views_records,
    views_reporting,
    views_results,
    views_templates,
    views_webhooks,
)
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
    # campaigns
    path("campaigns/", views_campaigns.campaign_list, name="campaign_list"),
    path("campaigns/new/", views_campaigns.campaign_create, name="campaign_create"),
    path(
        "campaigns/templates/<slug:key>/",
        views_campaigns.campaign_from_template,
        name="campaign_from_template",
    ),
    path("campaigns/<int:pk>/", views_campaigns.campaign_detail, name="campaign_detail"),
    path(
        "campaigns/<int:pk>/pressure/", views_pressure.campaign_pressure, name="campaign_pressure"
    ),
    path(
        "campaigns/<int:pk>/settings/", views_campaigns.campaign_settings, name="campaign_settings"
    ),
    path(
        "campaigns/<int:pk>/do/<slug:action>/",
        views_campaigns.campaign_action,
        name="campaign_action",
    ),
    path(
        "campaigns/<int:pk>/activities/new/",
        views_campaigns.activity_create,
        name="activity_create",
    ),
    path(
        "campaigns/<int:pk>/activities/<int:activity_id>/",
        views_campaigns.activity_edit,
        name="activity_edit",
    ),
    path(
        "campaigns/<int:pk>/activities/<int:activity_id>/delete/",
        views_campaigns.activity_delete,
        name="activity_delete",
    ),
    path(
        "campaigns/<int:pk>/activities/<int:activity_id>/filter/",
        views_campaigns.activity_filter,
        name="activity_filter",
    ),
    path("campaigns/<int:pk>/results/", views_results.campaign_results, name="campaign_results"),
    path("campaigns/<int:pk>/goal/", views_results.goal_edit, name="campaign_goal"),
    path(
        "campaigns/<int:pk>/splits/<int:split_id>/winner/",
        views_results.declare_winner,
        name="split_winner",
    ),
    path("campaigns/<int:pk>/tests/", views_campaigns.campaign_test_launch, name="campaign_tests"),
    path(
        "campaigns/<int:pk>/tests/<int:participant_id>/",
        views_campaigns.campaign_test,
        name="campaign_test",
    ),
    path("traces/<int:trace_id>/<slug:action>/", views_campaigns.trace_action, name="trace_action"),
    path(
        "participants/<int:participant_id>/stop/",
        views_campaigns.participant_stop,
        name="participant_stop",
    ),
    # reporting
    path("reporting/participants/", views_reporting.participant_report, name="participant_report"),
    path("reporting/traces/", views_reporting.trace_report, name="trace_report"),
    path("reporting/links/", views_reporting.link_report, name="link_report"),
    # configuration
    path("configuration/templates/", views_templates.template_list, name="template_list"),
    path(
        "configuration/templates/new/<slug:kind>/",
        views_templates.template_create,
        name="template_create",
    ),
    path(
        "configuration/templates/preview/",
        views_templates.template_preview,
        name="template_preview",
    ),
    path(
        "configuration/templates/design/compile/",
        views_templates.template_design_compile,
        name="template_design_compile",
    ),
    path(
        "configuration/templates/placeholders/",
        views_templates.template_placeholders,
        name="template_placeholders",
    ),
    path("configuration/templates/<int:pk>/", views_templates.template_edit, name="template_edit"),
    path(
        "configuration/templates/<int:pk>/send-test/",
        views_templates.template_send_test,
        name="template_send_test",
    ),
    path(
        "configuration/templates/<int:pk>/delete/",
        views_templates.template_delete,
        name="template_delete",
    ),
    path(
        "configuration/server-actions/",
        views_config.server_action_list,
        name="server_action_list",
    ),
    path(
        "configuration/server-actions/new/",
        views_config.server_action_edit,
        name="server_action_create",
    ),
    path(
        "configuration/server-actions/<int:pk>/",
        views_config.server_action_edit,
        name="server_action_edit",
    ),
    path(
        "configuration/server-actions/<int:pk>/delete/",
        views_config.server_action_delete,
        name="server_action_delete",
    ),
    # records
    path(records, views_records.record_list, name="record_list"),
    path(records + "new/", views_records.record_create, name="record_create"),
    path(records + "options/", views_records.record_options, name="record_options"),
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
    path(
        "records/registrations/<int:pk>/state/",
        views_records.registration_state,
        name="registration_state",
    ),
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
    path("configuration/pressure/", views_pressure.pressure_settings, name="pressure_settings"),
    path("settings/tokens/<int:pk>/revoke/", views_admin.token_revoke, name="token_revoke"),
    path("configuration/webhooks/", views_webhooks.webhook_list, name="webhook_list"),
    path("configuration/webhooks/new/", views_webhooks.webhook_create, name="webhook_create"),
    path("configuration/webhooks/<int:pk>/", views_webhooks.webhook_edit, name="webhook_edit"),
    path(
        "configuration/webhooks/<int:pk>/delete/",
        views_webhooks.webhook_delete,
        name="webhook_delete",
    ),
    path(
        "configuration/webhooks/<int:pk>/secret/",
        views_webhooks.webhook_rotate,
        name="webhook_rotate",
    ),
    path("configuration/webhooks/<int:pk>/test/", views_webhooks.webhook_test, name="webhook_test"),
    path(
        "configuration/webhook-deliveries/<int:pk>/replay/",
        views_webhooks.webhook_replay,
        name="webhook_replay",
    ),
    # brand kit and media library
    path("", include("drumbeat.web.urls_brand")),
    # outbox (outbox:// transport)
    path("outbox/", outbox, name="outbox"),
    path("outbox/<int:pk>/", outbox_entry, name="outbox_entry"),
]
