from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "drumbeat.automation"
    label = "automation"

    def ready(self) -> None:
        from drumbeat.lib import hooks
        from drumbeat.mailing.rendering import register_render_fields

        from .engine.enroll import enroll_changed_records
        from .engine.events import handle_message_event
        from .targets import FILTERABLE

        hooks.listen_records_changed(enroll_changed_records)
        hooks.listen_message_event(handle_message_event)
        from .engagement import record_human_event
        from .goals import check_changed_records

        hooks.listen_records_changed(check_changed_records)  # after enrolment: new ones too
        hooks.listen_message_event(record_human_event)
        from .outbound import emit_message_event, emit_unsubscribed

        hooks.listen_message_event(emit_message_event)  # outbound webhooks
        hooks.listen_unsubscribed(emit_unsubscribed)
        # "View online" re-renders outside a send: mailing needs the same field allow-list.
        register_render_fields(FILTERABLE)
        # The activities under each split follow every change of a workflow's tree.
        from . import splits  # noqa: F401  (connects its post_save / post_delete receivers)
