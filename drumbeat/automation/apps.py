from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "drumbeat.automation"
    label = "automation"
