"""The launcher's command lines: no secret on any of them."""

import sys

from bot.serve import commands
from bot.settings import load_settings

SECRETS = {
    "RASA_API_TOKEN": "-Ab_cdefghijklmnopqrstuvwxyz0123",
    "ACTION_SERVER_TOKEN": "action-secret-0123456789abcdefgh",
}


def test_no_secret_is_on_any_command_line():
    # `ps` shows every process's command line to every user of the machine.
    settings = load_settings(SECRETS)
    for name, command in commands(settings, model="var/models").items():
        line = " ".join(command)
        for secret in SECRETS.values():
            assert secret not in line, name
        assert "--auth-token" not in line and "-t" not in command, name


def test_the_children_get_the_secrets_through_their_environment():
    env = load_settings(SECRETS).child_environment()
    assert env["RASA_API_TOKEN"] == SECRETS["RASA_API_TOKEN"]
    assert env["ACTION_SERVER_TOKEN"] == SECRETS["ACTION_SERVER_TOKEN"]


def test_rasa_gets_the_token_inside_its_process_intact(monkeypatch):
    # bot.rasa_server adds --auth-token from RASA_API_TOKEN to its own sys.argv; a
    # token starting with "-" must not be taken for an option.
    import rasa.__main__

    import bot.settings

    seen = {}

    def fake_rasa_main():
        import argparse

        parser = argparse.ArgumentParser()
        parser.add_argument("-t", "--auth-token")
        parser.add_argument("--enable-api", action="store_true")
        seen["args"], _ = parser.parse_known_args(sys.argv[2:])

    monkeypatch.setattr(rasa.__main__, "main", fake_rasa_main)
    monkeypatch.setattr(bot.settings, "get_settings", lambda: load_settings(SECRETS))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    import bot.rasa_server

    monkeypatch.setattr(bot.rasa_server, "apply", lambda: None)
    from bot.rasa_server import main

    rasa = commands(load_settings(SECRETS), model="var/models")["rasa server"]
    main(rasa[3:])  # what `python -m bot.rasa_server` receives
    assert seen["args"].auth_token == SECRETS["RASA_API_TOKEN"]
    assert seen["args"].enable_api


def test_rasa_listens_on_the_configured_interface_and_port():
    settings = load_settings({"HOST": "127.0.0.1", "RASA_PORT": "5999"})
    rasa = commands(settings)["rasa server"]
    assert rasa[rasa.index("--interface") + 1] == "127.0.0.1"
    assert rasa[rasa.index("--port") + 1] == "5999"
    assert "--enable-api" in rasa


def test_the_action_server_is_the_guarded_one():
    action = commands(load_settings({}))["action server"]
    assert action[1:3] == ["-m", "bot.action_server"]
    assert "rasa_sdk" not in action
