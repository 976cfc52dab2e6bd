"""Public routes reached from messages (docs/architecture.md#interfaces), and the provider
webhooks."""

from django.urls import path

from . import sms_webhook, views, webhooks

urlpatterns = [
    path("t/o/<str:token>", views.open_pixel, name="mailing-open"),
    path("r/<str:code>", views.click, name="mailing-link"),
    path("r/<str:code>/<str:token>", views.click, name="mailing-click"),
    path("s/<str:code>", views.short_click, name="mailing-short-link"),
    path("u/<str:token>", views.unsubscribe, name="mailing-unsubscribe"),
    path("u/<str:token>/one-click", views.unsubscribe_one_click, name="mailing-one-click"),
    path("v/<str:token>", views.view_online, name="mailing-view-online"),
    path("sms/stop/<str:token>", views.sms_stop, name="mailing-sms-stop"),
]

# Listed in drumbeat/urls.py before the `api/v1/` include.
webhook_urlpatterns = [
    path("api/v1/webhooks/mail-events", webhooks.mail_events, name="webhook-mail-events"),
    path("api/v1/webhooks/sms-status", webhooks.sms_status, name="webhook-sms-status"),
    path("api/v1/webhooks/sms-inbound", sms_webhook.sms_inbound, name="webhook-sms-inbound"),
]
