from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "drumbeat.crm"
    label = "crm"
    verbose_name = "CRM"
