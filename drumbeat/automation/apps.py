from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "drumbeat.automation"
    label = "automation"

    def ready(self) -> None:
        from drumbeat.lib import hooks

        from .engine.enroll import enroll_changed_records
        from .engine.events import handle_message_event

        hooks.listen_records_changed(enroll_changed_records)
        hooks.listen_message_event(handle_message_event)
