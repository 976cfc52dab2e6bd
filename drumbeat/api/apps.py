from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "drumbeat.api"
    label = "api"
