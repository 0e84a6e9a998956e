"""The trained model, used synchronously by tests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Dict


class Parser:
    """Parses messages with the trained model, synchronously."""

    def __init__(self, model: Path) -> None:
        from rasa.core.agent import Agent

        self._loop = asyncio.new_event_loop()
        self.agent = Agent.load(str(model))

    def __call__(self, text: str) -> Dict[str, Any]:
        return self._loop.run_until_complete(self.agent.parse_message(text))

    def close(self) -> None:
        self._loop.close()
