"""Bad configuration fails the Django system checks loudly (drumbeat/checks.py)."""

import os
import subprocess
import sys

import pytest


def run_check(tmp_path, **env) -> subprocess.CompletedProcess:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DRUMBEAT_") and k not in {"DATABASE_URL", "CI"}
    }
    environment.update(
        DJANGO_SETTINGS_MODULE="drumbeat.settings", DRUMBEAT_HOME=str(tmp_path), **env
    )
    return subprocess.run(
        [sys.executable, "-m", "django", "check"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_good_configuration_passes(tmp_path):
    result = run_check(tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "not-a-url"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://u:p@localhost/db"}, "DATABASE_URL must point to SQLite or Post"),
        ({"DRUMBEAT_TICK_SECONDS": "soon"}, "DRUMBEAT_TICK_SECONDS must be a whole number"),
        ({"DRUMBEAT_DKIM_DOMAIN": "example.com"}, "DKIM needs all of"),
        ({"DRUMBEAT_FEEDBACK_SENDER_ID": "a:b"}, "DRUMBEAT_FEEDBACK_SENDER_ID must be 5 to 15"),
        ({"DRUMBEAT_WEBHOOK_ALLOW": "hooks.internal,10.0.5.0/33"}, "DRUMBEAT_WEBHOOK_ALLOW: '10."),
        ({"DRUMBEAT_MEDIA_URL": "s3://Bad_Bucket/x"}, "DRUMBEAT_MEDIA_URL: 'Bad_Bucket' is not"),
        ({"DRUMBEAT_MEDIA_URL": "gs://bucket"}, "DRUMBEAT_MEDIA_URL: expected a folder path"),
        ({"DRUMBEAT_MEDIA_PUBLIC_URL": "cdn.example.com"}, "DRUMBEAT_MEDIA_PUBLIC_URL must be"),
        ({"DRUMBEAT_MEDIA_MAX_BYTES": "5MB"}, "DRUMBEAT_MEDIA_MAX_BYTES must be a whole number"),
        ({"DRUMBEAT_MEDIA_MAX_BYTES": "0"}, "DRUMBEAT_MEDIA_MAX_BYTES must be between 1024"),
    ],
)
def test_a_bad_value_fails_the_checks(tmp_path, env, message):
    result = run_check(tmp_path, **env)

    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TICK_SECONDS", 0, "DRUMBEAT_TICK_SECONDS must be at least 1"),
        ("BATCH_SIZE", -5, "DRUMBEAT_BATCH_SIZE must be at least 1"),
        ("LEASE_SECONDS", 4, "DRUMBEAT_LEASE_SECONDS must be at least 5"),
        ("BASE_URL", "example.com", "DRUMBEAT_BASE_URL must start with http"),
        ("BROKER_URL", "ftp://x", "DRUMBEAT_BROKER_URL must be a redis"),
        ("DKIM_SELECTOR", "mail", "DKIM needs all of"),
        ("PRESSURE_EMAIL_WINDOW", "Mon-Sat 8-20", "DRUMBEAT_EMAIL_WINDOW: 'Mon-Sat 8-20' is not"),
        ("PRESSURE_SMS_WINDOW", "Mon 20:00-08:00", "DRUMBEAT_SMS_WINDOW: in 'Mon 20:00-08:00'"),
        ("PRESSURE_EMAIL_CAP", "1/fortnight", "DRUMBEAT_EMAIL_CAP: '1/fortnight' is not a cap"),
        ("PRESSURE_SMS_CAP", "2/60days", "DRUMBEAT_SMS_CAP: in '2/60days' the period must be"),
        ("TIME_ZONE", "Paris", "DRUMBEAT_TIME_ZONE must be an IANA time zone"),
        ("WEBHOOK_ALLOW", ["http://x.org/"], "DRUMBEAT_WEBHOOK_ALLOW: 'http://x.org/' is neither"),
        ("WEBHOOK_ALLOW", ["bad host!"], "DRUMBEAT_WEBHOOK_ALLOW: 'bad host!' is neither"),
    ],
)
def test_each_check_names_the_variable(settings, name, value, message):
    """The same checks in-process (the subprocess runs above prove they fail the command)."""
    from drumbeat.checks import check_environment

    setattr(settings, name, value)

    assert [message in e.msg for e in check_environment(None)] == [True]
