from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "drumbeat.web"
    label = "web"
