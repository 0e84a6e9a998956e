"""Runs Rasa's own server (`rasa run ...`) with the product's safety changes applied.

Rasa 3.6 has no hook for these, so they are applied to its classes before its
command line starts, in this one place:

- **Crisis while paused.** Rasa skips every message of a conversation held by staff
  (`MessageProcessor._should_handle_message`), so a crisis sent while waiting for a
  person got no answer. A message whose intent is `crisis` in a paused conversation
  now runs the crisis steps at once (`CRISIS_STEPS`: the guidance, then the flag that
  makes the open handoff urgent and tells staff, `handoff.urgent` to
  `STAFF_NOTIFY_URL`), and the conversation stays held by staff. The
  steps are run directly, not predicted: the policies' rules do not match a tracker
  whose earlier messages were skipped while paused.
- **The workers asked for, or none.** Rasa runs `SANIC_WORKERS` workers only with
  a lock store other than its in-memory one, and otherwise falls back to one with a
  debug-level line. The server now refuses to start when the number Rasa would run
  differs from `WORKERS` (`bot.settings`), and each worker logs "Rasa worker
  ready (pid N)" once its model is loaded.
- **One model for every worker.** With `MODEL_SERVER_URL` set, each worker pulls
  the active model from the staff console (Rasa's `models:` endpoint, every
  `MODEL_PULL_SECONDS`, token in a header); until a model is active it runs the
  local one. `PUT /model` would reload only the worker that received it.
- **A session started through the HTTP API** (a staff reply to a conversation with no
  session yet) runs `action_session_start` with no channel; Rasa then failed on it and
  lost the session start. It now gets a collecting channel: stored, sent nowhere.
- **A failed custom action is never silence.** When the action server is down or
  fails, Rasa logs the error and the patient got nothing. They now get
  `utter_action_failed` ("something went wrong, please try again"), sent by Rasa
  itself. The crisis guidance is a plain response (`utter_crisis`), sent before the
  custom action that flags the conversation, so it never depends on that server.

`python -m bot.rasa_server run --model ...` takes exactly `rasa`'s arguments.
"""

from __future__ import annotations

import logging
import sys
from typing import List

from bot.vocabulary import (
    ACTION_CRISIS_RESPONSE,
    ACTION_LISTEN,
    ACTION_SESSION_START,
    CRISIS,
    UTTER_ACTION_FAILED,
    UTTER_CRISIS,
    UTTER_NOTICE,
)

# By name: run as `python -m bot.rasa_server`, `__name__` would be "__main__".
logger = logging.getLogger("bot.rasa_server")

CRISIS_INTENT = CRISIS
# What a crisis gets in a conversation held by staff: as data/rules/safety.yml.
CRISIS_STEPS = (UTTER_CRISIS, ACTION_CRISIS_RESPONSE, ACTION_LISTEN)
ACTION_FAILED_RESPONSE = UTTER_ACTION_FAILED
NOTICE_RESPONSE = UTTER_NOTICE
ACTION_SESSION_START_NAME = ACTION_SESSION_START
# Actions whose failure the patient need not hear about: the crisis guidance was
# already sent before the flag, and the failure is logged for staff.
QUIET_ON_FAILURE = frozenset({ACTION_CRISIS_RESPONSE})

_applied = False


def apply() -> None:
    """Applies the changes to Rasa's classes (idempotent)."""
    global _applied
    if _applied:
        return
    _answer_a_crisis_while_paused()
    _tell_the_patient_when_an_action_fails()
    _run_the_workers_asked_for()
    _start_sessions_without_a_channel_too()
    _say_when_each_worker_is_ready()
    _applied = True


def _run_the_workers_asked_for() -> None:
    import rasa.core.utils as core_utils

    from bot.settings import get_settings

    original = core_utils.number_of_sanic_workers

    def number_of_sanic_workers(lock_store):
        wanted = get_settings().workers
        running = original(lock_store)
        if running != wanted:
            # Rasa falls back to one worker with only a debug line.
            raise SystemExit(
                f"WORKERS={wanted}, but Rasa would run {running} worker(s): "
                "several workers need endpoints.yml's lock_store to be "
                "bot.workers.locks.ClinicLockStore with REDIS_URL set."
            )
        logger.info("Rasa server: %d worker(s)", running)
        return running

    core_utils.number_of_sanic_workers = number_of_sanic_workers


def _start_sessions_without_a_channel_too() -> None:
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.processor import MessageProcessor

    original = MessageProcessor._update_tracker_session

    async def _update_tracker_session(self, tracker, output_channel, metadata=None):
        # Rasa's HTTP API starts a session without a channel (a staff reply to a
        # conversation with no session yet): its messages are stored, sent nowhere.
        channel = output_channel or CollectingOutputChannel()
        return await original(self, tracker, channel, metadata)

    MessageProcessor._update_tracker_session = _update_tracker_session


def _say_when_each_worker_is_ready() -> None:
    import os

    import rasa.core.run as core_run

    original = core_run.load_agent_on_start

    async def load_agent_on_start(model_path, endpoints, *args, **kwargs):
        pulling = _pull_the_active_model(endpoints)
        agent = await original(model_path, endpoints, *args, **kwargs)
        local = model_path and os.path.exists(model_path)
        if pulling and not agent.is_ready() and local:
            # No active model yet, or the console is not up: start with the
            # local one; the next pull replaces it once a model is active.
            logger.warning("No active model from the console yet: the local model")
            agent.load_model(model_path)
        # Once a model is loaded only warnings and errors reach the log, so
        # Rasa's own "up and running" line never shows. This one does, and
        # names the worker, so an operator or a test can count them.
        logger.warning("Rasa worker ready (pid %d)", os.getpid())
        return agent

    core_run.load_agent_on_start = load_agent_on_start


def _pull_the_active_model(endpoints) -> bool:
    """Points Rasa's `models:` endpoint at the console when MODEL_SERVER_URL is set.

    The token goes in a header (never the URL, which ends up in logs). Returns
    True when the worker pulls its model from the console.
    """
    from rasa.utils.endpoints import EndpointConfig

    from bot.settings.models import get_model_settings

    settings = get_model_settings()
    if not settings.server_url or endpoints is None:
        return False
    endpoints.model = EndpointConfig(
        settings.server_url,
        headers={"Authorization": f"Bearer {settings.token}"},
        wait_time_between_pulls=settings.pull_seconds,
    )
    return True


def _answer_a_crisis_while_paused() -> None:
    from rasa.core.actions.action import action_for_name_or_text
    from rasa.core.policies.policy import PolicyPrediction
    from rasa.core.processor import MessageProcessor
    from rasa.shared.nlu.constants import INTENT_NAME_KEY

    original_loop = MessageProcessor._run_prediction_loop

    async def _run_prediction_loop(self, output_channel, tracker) -> None:
        latest = tracker.latest_message
        is_crisis = (
            latest is not None and latest.intent.get(INTENT_NAME_KEY) == CRISIS_INTENT
        )
        if not (tracker.is_paused() and is_crisis):
            return await original_loop(self, output_channel, tracker)
        logger.info("Crisis in a conversation held by staff: guidance sent.")
        for name in CRISIS_STEPS:
            action = action_for_name_or_text(name, self.domain, self.action_endpoint)
            prediction = PolicyPrediction.for_action_name(self.domain, name)
            await self._run_action(
                action, tracker, output_channel, self.nlg, prediction
            )

    MessageProcessor._run_prediction_loop = _run_prediction_loop


def _tell_the_patient_when_an_action_fails() -> None:
    from rasa.core.actions.action import (
        ActionExecutionRejection,
        RemoteAction,
        create_bot_utterance,
    )

    original_run = RemoteAction.run

    async def run(self, output_channel, nlg, tracker, domain):
        try:
            return await original_run(self, output_channel, nlg, tracker, domain)
        except ActionExecutionRejection:
            raise  # a form validation saying "not this slot": Rasa's own flow
        except Exception as error:  # noqa: BLE001 - any failure must reach the patient
            # The type only: the error text can carry the request, with patient data.
            logger.error(
                f"Custom action '{self.name()}' failed ({type(error).__name__})."
            )
            if self.name() in QUIET_ON_FAILURE:
                return []
            if self.name() == ACTION_SESSION_START_NAME:
                return await _plain_session_start(output_channel, nlg, tracker, domain)
            message = await nlg.generate(
                ACTION_FAILED_RESPONSE, tracker, output_channel.name()
            )
            return [create_bot_utterance(message)] if message else []

    RemoteAction.run = run


async def _plain_session_start(output_channel, nlg, tracker, domain):
    """Rasa's own session start with the notice, when the custom one cannot run."""
    from rasa.core.actions.action import ActionSessionStart, create_bot_utterance
    from rasa.shared.core.events import ActionExecuted

    events = await ActionSessionStart().run(output_channel, nlg, tracker, domain)
    notice = await nlg.generate(NOTICE_RESPONSE, tracker, output_channel.name())
    if notice:
        at = next(
            (i for i, e in enumerate(events) if isinstance(e, ActionExecuted)),
            len(events),
        )
        events.insert(at, create_bot_utterance(notice))
    return events


def main(argv: List[str] | None = None) -> None:
    """Applies the changes, then runs Rasa's command line with `argv`.

    With `--enable-api` and no `--auth-token`, the token comes from `RASA_API_TOKEN`
    (`bot.settings`: the environment, or var/rasa_api_token in a local run) and is
    added here, inside the process: a command line is visible to every user of
    the machine (`ps`), the environment is not.
    """
    apply()
    from rasa.__main__ import main as rasa_main

    args = list(sys.argv[1:] if argv is None else argv)
    if "--enable-api" in args and not any(
        a == "-t" or a.startswith("--auth-token") for a in args
    ):
        from bot.settings import SettingsError, get_settings

        try:
            token = get_settings().rasa_api_token
        except SettingsError as error:
            print(f"Configuration error: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        # "=" form: a random token may start with "-", which argparse would take
        # for an option.
        args.append(f"--auth-token={token}")
    sys.argv = ["rasa", *args]
    rasa_main()


if __name__ == "__main__":
    main()
