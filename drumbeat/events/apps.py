from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "drumbeat.events"
    label = "events"
