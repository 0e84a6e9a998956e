"""What every table of the project shares: metadata, value checks, UTC timestamps.

Values from patients are untrusted. Every text column has a length limit that the
database enforces (a CHECK constraint, because SQLite ignores VARCHAR lengths) and
that the models check in Python first, when an attribute is set: a bad value
raises `InvalidValueError` (a `ValueError`) naming the field, never the value, so
the message is safe to log and nothing reaches the database. Unicode, emoji,
markup and SQL-looking text are stored unchanged (bound parameters only). Lengths
count characters (code points), the same in Python, SQLite and PostgreSQL.

Timestamps are timezone-aware UTC datetimes on both databases.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, NamedTuple

from sqlalchemy import Boolean, CheckConstraint, Column, DateTime, MetaData, false, func
from sqlalchemy.orm import declarative_base
from sqlalchemy.types import TypeDecorator

from bot import phi

# E.164: "+", a non-zero country code digit, at most 15 digits in all (ASCII only).

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)
Base = declarative_base(metadata=metadata)


class InvalidValueError(ValueError):
    """A value cannot be stored; `field` says which one (the value is not shown)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field


class TextRule(NamedTuple):
    """Limits of one text column."""

    max_length: int
    required: bool = True  # NOT NULL and at least one non-space character
    nullable: bool = False


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def check_text(field: str, value: Any, rule: TextRule) -> str | None:
    """Checks one text value against its rule.

    Args:
        field: column name, used in the error message.
        value: the value to store.
        rule: the column's limits.

    Returns:
        The value, unchanged.

    Raises:
        InvalidValueError: the value is missing, not text, too long, contains a NUL
            character or is not valid Unicode (e.g. a lone surrogate).
    """
    if value is None:
        if rule.nullable:
            return None
        raise InvalidValueError(field, "is required")
    if not isinstance(value, str):
        raise InvalidValueError(field, f"must be text, not {type(value).__name__}")
    if rule.required and not value.strip():
        raise InvalidValueError(field, "is required")
    if len(value) > rule.max_length:
        raise InvalidValueError(
            field, f"is too long ({len(value)} characters, at most {rule.max_length})"
        )
    if "\x00" in value:
        raise InvalidValueError(field, "contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidValueError(field, "is not valid Unicode text") from None
    return value


def check_choice(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    """Refuses a value outside `allowed` (the message lists the allowed ones)."""
    if value not in allowed:
        raise InvalidValueError(field, f"must be one of {', '.join(allowed)}")
    return value


def check_bool(field: str, value: Any) -> bool:
    """Refuses anything but True or False (no truthy strings or numbers)."""
    if not isinstance(value, bool):
        raise InvalidValueError(field, "must be True or False")
    return value


def length_checks(rules: dict[str, TextRule]) -> list[CheckConstraint]:
    """The database's own length checks of text columns (SQLite ignores VARCHAR)."""
    checks = []
    for name, rule in rules.items():
        low = 1 if rule.required else 0
        checks.append(
            CheckConstraint(
                f"length({name}) BETWEEN {low} AND {rule.max_length}",
                name=f"{name}_length",
            )
        )
    return checks


def in_values(column: str, values: tuple[str, ...]) -> str:
    """SQL for a CHECK constraint: `column` holds one of `values`."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend.

    PostgreSQL stores `timestamptz`; SQLite, which has no time zones, stores UTC
    without an offset. Both come back as aware UTC datetimes; naive ones are
    refused on the way in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> Any:
        """Aware datetime -> UTC (naive UTC for SQLite)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use an aware one (bot.db.models.utcnow)")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> Any:
        """Stored value -> aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def created_at_column(index: bool = False) -> Column:
    """When a row was made: set by Python, or by the database for raw inserts."""
    return Column(
        UTCDateTime(),
        nullable=False,
        default=utcnow,
        server_default=func.now(),
        index=index,
    )


def updated_at_column() -> Column:
    """When a row last changed: set at insert and at every ORM update."""
    return Column(
        UTCDateTime(),
        nullable=False,
        default=utcnow,
        onupdate=utcnow,
        server_default=func.now(),
    )


def flag_column(name: str) -> Column:
    """A NOT NULL boolean, False by default, checked on SQLite too."""
    return Column(
        Boolean(create_constraint=True, name=f"{name}_bool"),
        nullable=False,
        default=False,
        server_default=false(),
    )


def check_phone(field: str, value: Any) -> str:
    """Refuses a phone number that is not in E.164 form (`bot.phi`, the one rule)."""
    if not phi.is_e164(value):
        raise InvalidValueError(field, "must be a possible number in E.164 form")
    return value
