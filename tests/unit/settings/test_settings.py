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
    assert len(env["ACTION_SERVER_TOKEN"]) >= 24  # for endpoints.yml
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


# --- insecure defaults (issue 10, item 8) -------------------------------------------

STRONG = {"RASA_API_TOKEN": "r" * 32, "ACTION_SERVER_TOKEN": "a" * 32}


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.1.2.3", "clinic.example"])
def test_binding_beyond_loopback_needs_an_explicit_app_env(host):
    # A missing APP_ENV used to mean `local` (no Secure cookie, Twilio signatures
    # switchable off) even on 0.0.0.0.
    with pytest.raises(SettingsError, match="APP_ENV must be set") as raised:
        load_settings({"HOST": host, **STRONG})
    assert "HOST" in str(raised.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.5", "::1", "localhost"])
def test_loopback_needs_nothing(host):
    assert load_settings({"HOST": host}).is_local


def test_an_explicit_app_env_may_bind_beyond_loopback():
    production = load_settings({"APP_ENV": "production", "HOST": "0.0.0.0", **STRONG})
    assert not production.is_local and production.host == "0.0.0.0"
    # Saying `local` out loud is a decision, not an omission.
    assert load_settings({"APP_ENV": "local", "HOST": "0.0.0.0"}).is_local


def test_the_action_server_is_reached_where_it_listens():
    wildcard = load_settings({"APP_ENV": "production", "HOST": "0.0.0.0", **STRONG})
    assert wildcard.action_server_url == "http://127.0.0.1:5055/webhook"
    lan = load_settings({"APP_ENV": "production", "HOST": "10.1.2.3", **STRONG})
    assert lan.action_server_url == "http://10.1.2.3:5055/webhook"
    v6 = load_settings({"HOST": "::1", "ACTION_PORT": "6000"})
    assert v6.action_server_url == "http://[::1]:6000/webhook"


def test_action_server_token_local_default_is_random_and_stable():
    first = load_settings({}).action_server_token
    assert first and len(first) >= 24
    assert load_settings({}).action_server_token == first
    assert first != load_settings({}).rasa_api_token
    assert load_settings({}).child_environment()["ACTION_SERVER_TOKEN"] == first


def test_action_server_token_outside_local():
    unset = load_settings({"APP_ENV": "production", "RASA_API_TOKEN": "r" * 32})
    assert unset.action_server_token is None  # the launcher makes one per launch
    with pytest.raises(SettingsError, match="ACTION_SERVER_TOKEN must be at least"):
        load_settings({**STRONG, "APP_ENV": "production", "ACTION_SERVER_TOKEN": "s"})
    with pytest.raises(SettingsError, match="ACTION_SERVER_TOKEN must not contain"):
        load_settings({**STRONG, "ACTION_SERVER_TOKEN": "a" * 30 + " $HOME"})


def test_twilio_api_must_be_https_outside_local():
    # Messages to Twilio carry patients' numbers and texts.
    for url in ["http://api.twilio.com", "http://127.0.0.1:9999", "ftp://x"]:
        with pytest.raises(SettingsError, match="TWILIO_API_BASE_URL must be an https"):
            load_settings(
                {**STRONG, "APP_ENV": "production", "TWILIO_API_BASE_URL": url}
            )
    ok = load_settings(
        {**STRONG, "APP_ENV": "production", "TWILIO_API_BASE_URL": "https://api.x.org"}
    )
    assert not ok.is_local
    # A local run may use the fake Twilio on loopback (tests/sms).
    load_settings({"TWILIO_API_BASE_URL": "http://127.0.0.1:9999"})


@pytest.mark.parametrize(
    "name, default",
    [
        ("CONSOLE_RETENTION_DAYS", 365),
        ("CONSOLE_SESSION_HOURS", 12),
        ("CONSOLE_IDLE_MINUTES", 30),
        ("AUDIT_RETENTION_DAYS", 2190),
        ("HANDOFF_TARGET_MINUTES", 15),
    ],
)
def test_whole_number_settings_share_one_rule(name, default):
    from bot.settings import positive_int

    assert positive_int({}, name, default) == default
    assert positive_int({name: "  "}, name, default) == default  # blank: unset
    assert positive_int({name: " 7 "}, name, default) == 7
    for bad in ("0", "-3", "2.5", "ten", "1e3"):
        with pytest.raises(SettingsError, match=name):
            positive_int({name: bad}, name, default)


def test_the_handoff_target_is_a_console_setting_refused_by_name():
    from bot.settings import console

    assert console.load({}).handoff_target_minutes == 15
    assert console.load({"HANDOFF_TARGET_MINUTES": "5"}).handoff_target_minutes == 5
    for bad in ("0", "-1", "quarter hour"):
        with pytest.raises(SettingsError, match="HANDOFF_TARGET_MINUTES"):
            console.load({"HANDOFF_TARGET_MINUTES": bad})


PG = "postgresql://clinic@db.internal/clinic"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"WORKERS": "2"}, "needs PostgreSQL"),
        ({"WORKERS": "2", "DATABASE_URL": PG}, "needs Redis"),
        ({"WORKERS": "17", "DATABASE_URL": PG, "REDIS_URL": "redis://r"}, "at most"),
        ({"WORKERS": "two"}, "WORKERS must be a whole number"),
        ({"REDIS_URL": "http://r:6379"}, "REDIS_URL must start with redis://"),
    ],
)
def test_several_workers_need_postgresql_and_redis(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


def test_several_workers_reach_rasa_and_the_action_server():
    settings = load_settings(
        {"WORKERS": "3", "DATABASE_URL": PG, "REDIS_URL": "redis://r:6379/2"}
    )
    child = settings.child_environment()
    assert (settings.workers, child["SANIC_WORKERS"], child["WORKERS"]) == (3, "3", "3")
    assert child["REDIS_URL"] == "redis://r:6379/2"
    assert load_settings({}).child_environment()["SANIC_WORKERS"] == "1"


def test_the_settings_repr_shows_no_secret():
    settings = load_settings({"RASA_API_TOKEN": "a-secret-token-of-24-chars-or-more"})
    assert "a-secret-token" not in repr(settings)


def test_model_endpoint_settings():
    from bot.settings import models

    local = models.load({})
    assert local.server_url is None and local.token and len(local.token) >= 24
    assert models.load({}).token == local.token  # kept in var/, one per checkout
    url = {"MODEL_SERVER_URL": "http://10.0.0.11:8080/model/active"}
    with pytest.raises(SettingsError, match="needs MODEL_SERVER_TOKEN"):
        models.load(url, is_local=False)
    with pytest.raises(SettingsError, match="MODEL_SERVER_TOKEN must be at least"):
        models.load({**url, "MODEL_SERVER_TOKEN": "short"}, is_local=False)
    strong = models.load({**url, "MODEL_SERVER_TOKEN": "m" * 32}, is_local=False)
    assert strong.token == "m" * 32 and "m" * 32 not in repr(strong)
    with pytest.raises(SettingsError, match="MODEL_SERVER_URL must be an http"):
        models.load({"MODEL_SERVER_URL": "ftp://x"})
    with pytest.raises(SettingsError, match="MODEL_PULL_SECONDS must be at least 5"):
        models.load({"MODEL_PULL_SECONDS": "2"})
