from django.apps import AppConfig


class BrandConfig(AppConfig):
    name = "drumbeat.brand"
    label = "brand"
