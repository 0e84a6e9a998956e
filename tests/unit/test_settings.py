"""Settings: local defaults work out of the box, production refuses weak secrets."""

import pytest

from bot.settings import SettingsError, load_settings


def test_local_defaults(tmp_path):
    settings = load_settings({})
    assert settings.is_local
    assert settings.database_url.startswith(
        "sqlite:///"
    ) and settings.database_url.endswith("var/rasa.db")
    assert settings.rasa_port == 5005 and settings.action_port == 5055
    assert settings.action_server_url == "http://127.0.0.1:5055/webhook"
    assert len(settings.rasa_api_token) >= 24
    assert load_settings({}).rasa_api_token == settings.rasa_api_token, (
        "stable per checkout"
    )


def test_child_environment_carries_what_endpoints_yml_needs():
    env = load_settings(
        {"DATABASE_URL": "postgresql://u:p@127.0.0.1/db"}
    ).child_environment()
    assert env["DATABASE_URL"] == "postgresql://u:p@127.0.0.1/db"
    assert env["ACTION_SERVER_URL"].endswith("/webhook")
    assert env["RASA_TELEMETRY_ENABLED"] == "false"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DATABASE_URL": "not a url"}, "SQLAlchemy URL"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "must be one of"),
        ({"RASA_PORT": "http"}, "port number"),
        ({"ACTION_PORT": "70000"}, "between"),
        ({"APP_ENV": "production"}, "RASA_API_TOKEN is required"),
        ({"APP_ENV": "production", "RASA_API_TOKEN": "short"}, "at least 24"),
    ],
)
def test_invalid_settings_are_refused_with_a_reason(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


def test_production_with_a_strong_token():
    settings = load_settings({"APP_ENV": "production", "RASA_API_TOKEN": "x" * 32})
    assert not settings.is_local and settings.rasa_api_token == "x" * 32
