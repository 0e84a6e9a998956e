"""Console pieces without a server: settings, masking, charts, the commands."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.console import privacy
from bot.console.overview import bar_chart
from bot.console.web import safe_next
from bot.db.engine import dispose_engines, get_engine
from bot.db.migrate import upgrade
from bot.settings import SettingsError
from bot.settings.console import load as load_console_settings
from tests.support.paths import ROOT
from tests.support.seed import seed_clinic

PRODUCTION = {"APP_ENV": "production", "RASA_API_TOKEN": "t" * 32}


def test_local_run_gets_a_random_secret_key_kept_in_var():
    settings = load_console_settings({})
    assert len(settings.secret_key) >= 32
    assert load_console_settings({}).secret_key == settings.secret_key
    assert settings.port == 8080 and settings.retention_days == 365
    assert settings.session_hours == 12 and settings.idle_minutes == 30
    assert not settings.secure_cookies
    assert settings.secret_key not in repr(settings)


@pytest.mark.parametrize(
    "env, message",
    [
        ({}, "required outside a local run"),
        ({"CONSOLE_SECRET_KEY": "abcdefgh-12345"}, "at least 32"),
        ({"CONSOLE_SECRET_KEY": "change-me"}, "placeholder"),
        ({"CONSOLE_SECRET_KEY": "a" * 40}, "placeholder"),
    ],
)
def test_outside_local_a_weak_secret_is_refused(env, message):
    with pytest.raises(SettingsError, match=message):
        load_console_settings({**PRODUCTION, **env})


def test_production_settings():
    key = "Zq8v-" + "k3Jx9" * 8
    settings = load_console_settings(
        {
            **PRODUCTION,
            "CONSOLE_SECRET_KEY": key,
            "CONSOLE_PORT": "9090",
            "CONSOLE_RETENTION_DAYS": "30",
            "CONSOLE_IDLE_MINUTES": "10",
            "CONSOLE_ADMIN_EMAIL": "Admin@Clinic.example",
            "CONSOLE_ADMIN_PASSWORD": "a-long-password",
        }
    )
    assert settings.secure_cookies and settings.port == 9090
    assert settings.retention_days == 30 and settings.idle_minutes == 10
    assert settings.admin_email == "admin@clinic.example"


@pytest.mark.parametrize(
    "env",
    [
        {"CONSOLE_ADMIN_EMAIL": "a@b.org"},
        {"CONSOLE_ADMIN_EMAIL": "a@b.org", "CONSOLE_ADMIN_PASSWORD": "short"},
        {"CONSOLE_RETENTION_DAYS": "0"},
        {"CONSOLE_IDLE_MINUTES": "0"},
        {"CONSOLE_IDLE_MINUTES": "half an hour"},
        {"CONSOLE_PORT": "http"},
    ],
)
def test_bad_console_settings(env):
    with pytest.raises(SettingsError):
        load_console_settings(env)


@pytest.mark.parametrize(
    "value, masked",
    [
        ("+15551234567", "+1******4567"),
        ("whatsapp:+15551234567", "whatsapp:+1******4567"),
        ("web-abc123", "web-abc123"),
        ("", ""),
    ],
)
def test_mask_conversation_id(value, masked):
    assert privacy.mask_conversation_id(value) == masked


def test_mask_text_hides_numbers_and_emails():
    text = "call me at (555) 123-4567 or +1 555 987 6543, jane.doe@example.org"
    masked = privacy.mask_text(text)
    assert "123-4567" not in masked and "987 6543" not in masked
    assert "jane.doe@" not in masked and "j***@example.org" in masked
    assert masked.endswith("j***@example.org")
    assert privacy.mask_text("is it safe for 2 weeks?") == "is it safe for 2 weeks?"
    assert privacy.mask_email("jane@example.org") == "j***@example.org"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("/conversations?q=x", "/conversations?q=x"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
    ],
)
def test_redirects_after_sign_in_stay_on_the_site(value, expected):
    assert safe_next(value) == expected


def test_bar_chart_geometry():
    chart = bar_chart("x", [("a", 1.0), ("b", 4.0), ("c", 0.0)])
    heights = [bar.height for bar in chart.bars]
    assert heights == [40.0, 160.0, 0.0] and chart.peak == 4.0
    assert bar_chart("empty", []).bars == []


def run_cli(args, database_url, **env):
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "APP_ENV": "local",
        "CONSOLE_SECRET_KEY": "k" * 40,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.console", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_commands_create_admin_refresh_forget_purge(tmp_path):
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    upgrade(url)
    seed_clinic(get_engine(url))
    dispose_engines()
    result = run_cli(
        ["users", "create-admin", "--email", "boss@clinic.example"],
        url,
        CONSOLE_ADMIN_PASSWORD="boss-password-123",
    )
    assert result.returncode == 0, result.stderr
    assert "Created admin account boss@clinic.example" in result.stdout
    result = run_cli(["refresh"], url)
    assert "Recomputed 6 conversation(s)" in result.stdout, result.stderr
    result = run_cli(["forget", "--phone", "+15551234567"], url)
    assert result.returncode == 0 and "1 conversation(s)" in result.stdout
    assert "+15551234567" not in result.stdout + result.stderr
    result = run_cli(["forget", "--phone", "5551234567"], url)
    assert result.returncode == 2
    result = run_cli(["purge", "--older-than-days", "1"], url)
    assert result.returncode == 0 and "0 conversation(s)" in result.stdout
    result = run_cli(["forget", "--conversation-id", "rest-safety"], url)
    assert "1 conversation(s)" in result.stdout


def test_console_and_storage_read_no_environment_variables():
    # Every variable is read and validated by bot.settings, once.
    from tests.support.paths import ROOT

    readers = [
        str(path.relative_to(ROOT))
        for folder in ("bot/console", "bot/db")
        for path in (ROOT / folder).rglob("*.py")
        if "os.environ" in path.read_text(encoding="utf-8")
        or "getenv(" in path.read_text(encoding="utf-8")
    ]
    assert readers == []
