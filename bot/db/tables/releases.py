"""Which trained model the Rasa workers run: `model_activations`.

Append-only: each row says that an admin (or the command line) made one model
file the active one. The active model is the newest row; rolling back adds a row
for the model that was active before, so the table is also the history of what
ran when, and who decided it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Integer, String
from sqlalchemy.orm import validates

from bot.db.tables.base import (
    Base,
    TextRule,
    check_text,
    created_at_column,
    length_checks,
)

ACTIVATION_TEXT_RULES = {
    "filename": TextRule(255),
    "sha256": TextRule(64),
    "activated_by": TextRule(254),
}


class ModelActivation(Base):
    """One model file made the active one (the newest row is the active model)."""

    __tablename__ = "model_activations"

    id = Column(Integer, primary_key=True)
    filename = Column(String(255), nullable=False)  # a file in MODELS_DIR
    sha256 = Column(String(64), nullable=False)  # its content; Rasa's ETag
    size = Column(BigInteger, nullable=False)
    activated_by = Column(String(254), nullable=False)  # staff email or "cli"
    activated_at = created_at_column(index=True)

    __table_args__ = (*length_checks(ACTIVATION_TEXT_RULES),)

    @validates(*ACTIVATION_TEXT_RULES)
    def _validate_text(self, key: str, value: Any) -> str | None:
        return check_text(key, value, ACTIVATION_TEXT_RULES[key])

    def __repr__(self) -> str:
        return f"<ModelActivation id={self.id} sha256={self.sha256[:12]}>"
