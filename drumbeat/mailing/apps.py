from django.apps import AppConfig


class MailingConfig(AppConfig):
    name = "drumbeat.mailing"
    label = "mailing"
