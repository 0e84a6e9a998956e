"""Staff accounts, sign-in with lockout and a second factor, sessions and CSRF tokens.

One module per concern: `common` (limits, errors, hashing), `accounts`, `signin`,
`totp`, `sessions`; this package re-exports their public names.

- Passwords are hashed with argon2id (`argon2-cffi`, OWASP's minimum parameters:
  19 MiB, 2 passes); a hash made with older parameters is upgraded at sign-in.
- **Lockout, atomic.** Every attempt (a password, a second-factor code, the
  current password on the change form) first *reserves* one of the account's
  `MAX_FAILURES` tries with a single conditional UPDATE, committed before the
  slow check: the counter goes up, and the reservation that reaches the limit
  sets `locked_until` itself. So however many requests arrive at once, at most
  `MAX_FAILURES` of them ever reach a real password check before the account is
  locked for `LOCK_MINUTES`; while locked, even the right password is refused
  (after a check against a dummy hash, so both cases take as long). A success
  gives the tries back. The message never says whether the email exists.
- **Throttling per client address, atomic.** In the same transaction, the
  attempt is written to the audit log as "sign-in failed" *before* the check,
  after counting the address's recent failures: `THROTTLE_FAILURES` within
  `THROTTLE_MINUTES`, whatever the accounts (known or not), refuse further
  attempts from that address. Counting and writing are serialised per address
  (PostgreSQL: a transaction-level advisory lock on the address; SQLite: every
  write transaction is `BEGIN IMMEDIATE`), so parallel requests cannot all see
  19. A successful attempt's entry is turned into "sign-in" (or
  "sign-in password ok" while the second factor is pending).
- **Second factor (TOTP, RFC 6238, `pyotp`).** Required for admins (an admin
  without one can only set it up, see `SignedIn.needs_totp_setup`), optional for
  staff. After a right password a TOTP user gets a short `totp` session
  (`TOTP_PENDING_MINUTES`) that opens nothing but the code form; the right code
  replaces it with a full session (a new cookie value). Codes of the previous,
  current and next 30 s step are accepted, each step only once
  (`totp_last_step`, advanced by a conditional UPDATE). Wrong codes count
  against the same lockout. The secret is stored encrypted (AES-GCM, key derived
  from `CONSOLE_SECRET_KEY`): a copy of the database alone gives no codes.
- **Passwords.** A staff member changes their own (the current one is checked
  like a sign-in); it ends their other sessions. An admin issues a one-time
  reset link (`RESET_HOURS`), stored only as a keyed hash; using it sets a new
  password, ends every session of the account and clears its lockout.
- A session is a random cookie value; the database keeps only its HMAC (keyed
  with `CONSOLE_SECRET_KEY`), so a copy of the database opens no session. Each
  session has its own CSRF token, checked on every POST. It ends
  `CONSOLE_SESSION_HOURS` after sign-in, or after `CONSOLE_IDLE_MINUTES` without
  a request; the last request time is written at most once a minute.
- The sign-in form (no session yet) gets a CSRF token signed with the secret key
  and tied to a short-lived cookie (double submit).
"""

from bot.console.auth.accounts import (
    change_password,
    count_users,
    create_user,
    ensure_bootstrap_admin,
    issue_reset,
    set_active,
    set_display_name,
    use_reset,
)
from bot.console.auth.common import (
    DEFAULT_IDLE_MINUTES,
    DISPLAY_NAME_LENGTH,
    LOCK_MINUTES,
    MAX_EMAIL_LENGTH,
    MAX_FAILURES,
    PASSWORD_OK,
    RESET_HOURS,
    SIGN_IN,
    SIGN_IN_FAILED,
    THROTTLE_FAILURES,
    THROTTLE_MINUTES,
    TOTP_ISSUER,
    TOTP_PENDING_MINUTES,
    TOTP_STEP_SECONDS,
    TOUCH_SECONDS,
    AccountError,
    Locked,
    PasswordAccepted,
    SignedIn,
    SignInError,
    Throttled,
    check_display_name,
    hash_password,
    normalise_email,
)
from bot.console.auth.sessions import (
    end_session,
    load_session,
    login_csrf_token,
    pending_csrf,
    session_key,
    start_session,
    tokens_match,
)
from bot.console.auth.signin import (
    check_password,
    check_second_factor,
    throttled,
)
from bot.console.auth.totp import (
    confirm_totp_setup,
    matching_step,
    open_totp_secret,
    provisioning_uri,
    reset_totp,
    seal_totp_secret,
    totp_setup_secret,
)
from bot.db.models import ConsoleSession, ConsoleUser

__all__ = [
    "AccountError",
    "ConsoleSession",
    "ConsoleUser",
    "DEFAULT_IDLE_MINUTES",
    "DISPLAY_NAME_LENGTH",
    "LOCK_MINUTES",
    "Locked",
    "MAX_EMAIL_LENGTH",
    "MAX_FAILURES",
    "PASSWORD_OK",
    "PasswordAccepted",
    "RESET_HOURS",
    "SIGN_IN",
    "SIGN_IN_FAILED",
    "SignInError",
    "SignedIn",
    "THROTTLE_FAILURES",
    "THROTTLE_MINUTES",
    "TOTP_ISSUER",
    "TOTP_PENDING_MINUTES",
    "TOTP_STEP_SECONDS",
    "TOUCH_SECONDS",
    "Throttled",
    "change_password",
    "check_display_name",
    "check_password",
    "check_second_factor",
    "confirm_totp_setup",
    "count_users",
    "create_user",
    "end_session",
    "ensure_bootstrap_admin",
    "hash_password",
    "issue_reset",
    "load_session",
    "login_csrf_token",
    "matching_step",
    "normalise_email",
    "open_totp_secret",
    "pending_csrf",
    "provisioning_uri",
    "reset_totp",
    "seal_totp_secret",
    "session_key",
    "set_active",
    "set_display_name",
    "start_session",
    "throttled",
    "tokens_match",
    "totp_setup_secret",
    "use_reset",
]
