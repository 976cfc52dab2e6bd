from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "drumbeat.contacts"
    label = "contacts"
