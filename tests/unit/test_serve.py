"""The launcher's command lines."""

import argparse

from bot.serve import commands
from bot.settings import load_settings


def test_a_token_starting_with_a_dash_reaches_rasa_intact():
    settings = load_settings({"RASA_API_TOKEN": "-Ab_cdefghijklmnopqrstuvwxyz0123"})
    rasa = commands(settings, model="var/models")["rasa server"]
    parser = argparse.ArgumentParser()
    parser.add_argument("-t", "--auth-token")
    known, _ = parser.parse_known_args(rasa[3:])
    assert known.auth_token == "-Ab_cdefghijklmnopqrstuvwxyz0123"


def test_rasa_listens_on_the_configured_interface_and_port():
    settings = load_settings({"HOST": "127.0.0.1", "RASA_PORT": "5999"})
    rasa = commands(settings)["rasa server"]
    assert rasa[rasa.index("--interface") + 1] == "127.0.0.1"
    assert rasa[rasa.index("--port") + 1] == "5999"
    assert "--enable-api" in rasa
