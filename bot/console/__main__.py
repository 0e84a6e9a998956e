"""The staff console's command line.

    python -m bot.console                      # serve on HOST:CONSOLE_PORT (8080)
    python -m bot.console serve --port 8081
    python -m bot.console users create-admin --email you@clinic.example --name Dana
    python -m bot.console users create --email sam@clinic.example --name Sam
    python -m bot.console users set-password --email nurse@clinic.example
    python -m bot.console users reset-totp --email you@clinic.example   # lost phone
    python -m bot.console purge [--older-than-days N]   # default CONSOLE_RETENTION_DAYS
    python -m bot.console forget --conversation-id ID | --phone +15551234567
    python -m bot.console refresh              # bring conversation summaries up to date
    python -m bot.console models list | activate FILE | rollback   # the active model

Passwords are read from the terminal (or `CONSOLE_ADMIN_PASSWORD` /
`CONSOLE_USER_PASSWORD` when set), never from the command line. `set-password`
and `reset-totp` are for whoever runs the server when no admin can sign in
(forgotten password, lost phone); both sign the account out everywhere. Every
command first applies the migrations (`bot.db.migrate.upgrade`), like
`make run` does.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from typing import List, Optional

from bot.settings import SettingsError

logger = logging.getLogger("bot.console")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.console", description="The clinic's staff console."
    )
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the web console (default)")
    serve.add_argument("--port", type=int, help="default CONSOLE_PORT (8080)")
    users = commands.add_parser("users", help="manage staff accounts")
    users_commands = users.add_subparsers(dest="users_command", required=True)
    admin = users_commands.add_parser("create-admin", help="add an admin account")
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", help="display name patients see on replies")
    staff = users_commands.add_parser("create", help="add an account")
    staff.add_argument("--email", required=True)
    staff.add_argument("--role", choices=("staff", "admin"), default="staff")
    staff.add_argument("--name", help="display name patients see on replies")
    password = users_commands.add_parser(
        "set-password", help="set an account's password (signs it out)"
    )
    password.add_argument("--email", required=True)
    totp = users_commands.add_parser(
        "reset-totp", help="turn off an account's second factor (signs it out)"
    )
    totp.add_argument("--email", required=True)
    purge = commands.add_parser("purge", help="delete conversations past retention")
    purge.add_argument(
        "--older-than-days", type=int, help="default CONSOLE_RETENTION_DAYS"
    )
    forget = commands.add_parser("forget", help="delete everything about one patient")
    target = forget.add_mutually_exclusive_group(required=True)
    target.add_argument("--conversation-id", action="append", default=[])
    target.add_argument("--phone", help="E.164, e.g. +15551234567")
    commands.add_parser("refresh", help="update the conversation summaries")
    models = commands.add_parser("models", help="the model every Rasa worker runs")
    models_commands = models.add_subparsers(dest="models_command", required=True)
    models_commands.add_parser("list", help="the model files and the active one")
    activate = models_commands.add_parser("activate", help="make a file active")
    activate.add_argument("name", help="a file name in MODELS_DIR")
    models_commands.add_parser("rollback", help="activate the model before")
    return parser


def _models(settings, command: str, name: Optional[str]) -> int:
    """The model commands; changes are audited as made by "cli"."""
    from bot.console.services import models as service
    from bot.db.engine import get_engine
    from bot.settings import models as model_settings

    engine = get_engine(settings.database_url)
    folder = model_settings.load(is_local=settings.is_local).models_dir
    try:
        if command == "activate":
            sha = service.activate(engine, folder, name or "", "cli", None)
            print(f"Active model: {name} ({sha[:12]})")
        elif command == "rollback":
            sha = service.rollback(engine, folder, "cli", None)
            print(f"Rolled back to the model {sha[:12]}")
    except service.ModelError as error:
        print(f"Models: {error}", file=sys.stderr)
        return 2
    data = service.page(engine, folder)
    active = data["active"]
    for item in data["files"]:
        mark = "*" if active and active["filename"] == item.name else " "
        print(f"{mark} {item.name}  {item.sha256[:12]}  {item.size / 1048576:.1f} MB")
    if not data["files"]:
        print(f"No model file in {folder}")
    return 0


def _password(preset: Optional[str]) -> str:
    if preset:
        return preset
    first = getpass.getpass("Password (12+ characters): ")
    if getpass.getpass("Repeat the password: ") != first:
        raise SystemExit("The passwords differ; nothing was created.")
    return first


def _create_user(settings, email: str, role: str, name: Optional[str]) -> int:
    from bot.console import auth
    from bot.db.engine import get_engine, session_scope

    preset = settings.admin_password if role == "admin" else settings.user_password
    password = _password(preset)
    try:
        with session_scope(get_engine(settings.database_url)) as session:
            user = auth.create_user(session, email, password, role, name)
            print(f"Created {user.role} account {user.email}.")
    except auth.AccountError as error:
        print(f"Not created: {error}.", file=sys.stderr)
        return 1
    return 0


def _fix_account(settings, command: str, email: str) -> int:
    """`users set-password` / `users reset-totp`: the server operator's way back in."""
    from bot.console import auth
    from bot.console.services import accounts
    from bot.db.engine import get_engine

    engine = get_engine(settings.database_url)
    try:
        email = auth.normalise_email(email)
        if command == "set-password":
            password = _password(settings.user_password)
            action = accounts.set_password_by_operator(engine, email, password)
        else:
            action = accounts.reset_totp_by_operator(engine, email)
    except auth.AccountError as error:
        print(f"Not changed: {error}.", file=sys.stderr)
        return 1
    print(f"Done: {action} for {email}; it is signed out everywhere.")
    return 0


def _serve(settings, port: Optional[int]) -> int:
    from bot.console import auth
    from bot.console.app import create_app
    from bot.db.engine import get_engine, session_scope

    engine = get_engine(settings.database_url)
    try:
        with session_scope(engine) as session:
            created = auth.ensure_bootstrap_admin(
                session,
                settings.admin_email,
                settings.admin_password,
                settings.admin_name,
            )
    except auth.AccountError as error:
        print(f"CONSOLE_ADMIN_*: {error}", file=sys.stderr)
        return 2
    with session_scope(engine) as session:
        if created is not None:
            logger.info("Created the first admin account from CONSOLE_ADMIN_EMAIL")
        elif auth.count_users(session) == 0:
            logger.warning(
                "No staff account yet: run `python -m bot.console users create-admin "
                "--email you@clinic.example`, or set CONSOLE_ADMIN_EMAIL and "
                "CONSOLE_ADMIN_PASSWORD and restart"
            )
    app = create_app(settings, engine)
    port = port or settings.port
    logger.info("Staff console on http://%s:%s/", settings.host, port)
    # One process: Sanic 21.12's default (workers=1); SIGINT/SIGTERM stop it.
    app.run(host=settings.host, port=port, access_log=False, debug=False, motd=False)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Runs one command; returns the exit status."""
    from bot.db.migrate import upgrade
    from bot.settings.console import load as load_console_settings

    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_console_settings()
    except SettingsError as error:
        print(f"Console settings: {error}", file=sys.stderr)
        return 2
    upgrade(settings.database_url)
    command = args.command or "serve"
    if command == "serve":
        return _serve(settings, getattr(args, "port", None))
    if command == "users":
        if args.users_command in ("set-password", "reset-totp"):
            return _fix_account(settings, args.users_command, args.email)
        role = "admin" if args.users_command == "create-admin" else args.role
        return _create_user(settings, args.email, role, args.name)
    if command == "models":
        return _models(settings, args.models_command, getattr(args, "name", None))
    from bot.db import retention, summaries
    from bot.db.engine import get_engine

    engine = get_engine(settings.database_url)
    if command == "purge":
        days = args.older_than_days or settings.retention_days
        print(f"Purged (older than {days} days): {retention.purge(engine, days)}")
    elif command == "forget":
        try:
            deleted = retention.forget(engine, args.conversation_id, args.phone)
        except ValueError as error:
            print(str(error), file=sys.stderr)
            return 2
        print(f"Forgotten: {deleted}")
    elif command == "refresh":
        print(f"Recomputed {summaries.refresh(engine)} conversation(s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
