"""Settings of the SMS channel (Twilio) and its conversation ids (see `bot.settings`).

- `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`, `TWILIO_NUMBER` (an E.164 number or
  a messaging service SID, `MG...`), `TWILIO_WEBHOOK_URL` (exactly as configured
  at Twilio: signatures are computed over it), `TWILIO_API_BASE_URL` (tests point
  it at a fake Twilio), `TWILIO_VALIDATE_SIGNATURE` (off in a local run only);
- `SMS_ID_SECRET`: the key of the SMS conversation ids (`bot.ids`), 32+
  characters, required outside a local run when the channel is configured; a
  local run without it uses a per-checkout secret in `var/sms_id_secret`;
- `LOG_LEVEL`: the channel keeps its audit lines (opt-outs, withheld replies) at
  this level although loading the model lowers the root logger.

Without the Twilio variables the channel still loads (its webhook answers 503),
so `credentials.yml` can always list it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional

from bot.settings.core import SettingsError, local_secret

DEFAULT_API_BASE_URL = "https://api.twilio.com"
MIN_ID_SECRET_CHARS = 32
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class SmsSettings:
    """The SMS channel's configuration (environment variables in brackets)."""

    account_sid: str = ""  # TWILIO_ACCOUNT_SID
    auth_token: str = ""  # TWILIO_AUTH_TOKEN
    sender: str = ""  # TWILIO_NUMBER: E.164 number or messaging service SID (MG...)
    webhook_url: str = ""  # TWILIO_WEBHOOK_URL: exactly as configured at Twilio
    api_base_url: str = DEFAULT_API_BASE_URL  # TWILIO_API_BASE_URL
    validate_signature: bool = True  # TWILIO_VALIDATE_SIGNATURE (local runs only)
    log_level: int = logging.INFO  # LOG_LEVEL
    id_secret: str = ""  # SMS_ID_SECRET
    local: bool = True  # APP_ENV is "local" (or unset)

    @property
    def missing(self) -> List[str]:
        """The variables still needed before the channel can work."""
        needed = {
            "TWILIO_ACCOUNT_SID": self.account_sid,
            "TWILIO_AUTH_TOKEN": self.auth_token,
            "TWILIO_NUMBER": self.sender,
        }
        if self.validate_signature:
            needed["TWILIO_WEBHOOK_URL"] = self.webhook_url
        return [name for name, value in needed.items() if not value]

    @property
    def configured(self) -> bool:
        """True when the channel can receive and send."""
        return not self.missing

    def id_key(self) -> bytes:
        """The key of the SMS conversation ids: `SMS_ID_SECRET`, else the checkout's.

        Raises:
            SettingsError: no `SMS_ID_SECRET` outside a local run.
        """
        if self.id_secret:
            return self.id_secret.encode()
        if not self.local:
            raise SettingsError("SMS_ID_SECRET is required outside a local run")
        return local_secret("sms_id_secret", 32).encode()

    def sender_params(self) -> Dict[str, str]:
        """Who the message is from, as `messages.create` wants it."""
        if self.sender.startswith("MG"):
            return {"messaging_service_sid": self.sender}
        return {"from_": self.sender}


def _is_local(env: Mapping[str, str]) -> bool:
    return env.get("APP_ENV", "local") == "local"


def log_level(env: Mapping[str, str]) -> int:
    """`LOG_LEVEL` as a `logging` level; INFO when unset or not a level name."""
    name = env.get("LOG_LEVEL", "INFO").strip().upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.INFO


def load(env: Optional[Mapping[str, str]] = None) -> SmsSettings:
    """Reads the settings; refuses an unsigned webhook outside a local run.

    Raises:
        SettingsError: a value is invalid, signature checks are switched off while
            `APP_ENV` is not `local`, or `SMS_ID_SECRET` is too short (or missing
            outside a local run while the channel is configured).
    """
    from bot.phi import is_e164

    env = os.environ if env is None else env
    validate = env.get("TWILIO_VALIDATE_SIGNATURE", "true").strip().lower()
    settings = SmsSettings(
        account_sid=env.get("TWILIO_ACCOUNT_SID", "").strip(),
        auth_token=env.get("TWILIO_AUTH_TOKEN", "").strip(),
        sender=env.get("TWILIO_NUMBER", "").strip(),
        webhook_url=env.get("TWILIO_WEBHOOK_URL", "").strip(),
        api_base_url=(
            env.get("TWILIO_API_BASE_URL", "").strip() or DEFAULT_API_BASE_URL
        ).rstrip("/"),
        validate_signature=validate in _TRUE,
        log_level=log_level(env),
        id_secret=_id_secret(env),
        local=_is_local(env),
    )
    if not settings.validate_signature and not settings.local:
        raise SettingsError(
            "TWILIO_VALIDATE_SIGNATURE may be off only when APP_ENV=local"
        )
    for name, url in (
        ("TWILIO_WEBHOOK_URL", settings.webhook_url),
        ("TWILIO_API_BASE_URL", settings.api_base_url),
    ):
        if url and not url.startswith(("http://", "https://")):
            raise SettingsError(f"{name} must be an http(s) URL")
    if not settings.local and not settings.api_base_url.lower().startswith("https://"):
        raise SettingsError(
            "TWILIO_API_BASE_URL must be an https:// URL outside a local run "
            "(messages carry patients' numbers and texts)"
        )
    if settings.sender and not (
        is_e164(settings.sender) or settings.sender.startswith("MG")
    ):
        raise SettingsError(
            "TWILIO_NUMBER must be an E.164 number or a messaging service SID"
        )
    if settings.configured and not settings.local and not settings.id_secret:
        raise SettingsError("SMS_ID_SECRET is required outside a local run")
    return settings


def _id_secret(env: Mapping[str, str]) -> str:
    secret = env.get("SMS_ID_SECRET", "").strip()
    if secret and len(secret) < MIN_ID_SECRET_CHARS:
        raise SettingsError(
            f"SMS_ID_SECRET must be at least {MIN_ID_SECRET_CHARS} characters"
        )
    return secret


def id_secret(env: Optional[Mapping[str, str]] = None) -> bytes:
    """The key of the SMS ids alone (`SmsSettings.id_key`), e.g. for the console.

    Raises:
        SettingsError: `SMS_ID_SECRET` is shorter than 32 characters, or missing
            outside a local run (`APP_ENV` other than `local`).
    """
    env = os.environ if env is None else env
    return SmsSettings(id_secret=_id_secret(env), local=_is_local(env)).id_key()
