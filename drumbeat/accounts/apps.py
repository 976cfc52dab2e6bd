from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "drumbeat.accounts"
    label = "accounts"
    verbose_name = "Users and access"

    def ready(self) -> None:
        from drumbeat import checks  # noqa: F401  (registers the system checks)
