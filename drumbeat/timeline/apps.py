from django.apps import AppConfig


class TimelineConfig(AppConfig):
    name = "drumbeat.timeline"
    label = "timeline"
