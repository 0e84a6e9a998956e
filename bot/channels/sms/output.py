"""Replies to a patient as SMS: the bot's, and staff replies through Rasa's HTTP API.

The number of a conversation id comes from the inbound messages this process has
seen, else from the conversation's `sms_messages` records (so staff replies work
after a restart); an id of before the HMAC ids is the number itself. Every reply
is formatted by `bot.channels.sms.format`, then queued on the `SmsSender`.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence

from rasa.core.channels.channel import OutputChannel

from bot.channels.sms.format import sms_bodies
from bot.channels.sms.sender import SmsSender
from bot.vocabulary import SMS

logger = logging.getLogger(__name__)

CHANNEL_NAME = SMS


class TwilioSmsOutput(OutputChannel):
    """Sends the bot's (and staff's) replies to a patient as SMS."""

    def __init__(self, sender: SmsSender) -> None:
        self.sender = sender

    @classmethod
    def name(cls) -> str:
        """The channel's name, shared with the input channel."""
        return CHANNEL_NAME

    async def _queue(
        self,
        recipient_id: str,
        text: Optional[str],
        buttons: Optional[Sequence[Dict[str, Any]]] = None,
    ) -> None:
        bodies = sms_bodies(text, buttons)
        if not bodies:
            return
        try:
            phone = await self.sender.phone_for(recipient_id or "")
        except Exception as error:  # noqa: BLE001 - e.g. the database is down
            logger.error("SMS reply dropped: number unknown (%s)", type(error).__name__)
            return
        if phone is None:
            logger.error("SMS reply dropped: no number known for the conversation")
            return
        self.sender.send(phone, bodies, buttons, conversation_id=recipient_id)

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> None:
        """Sends plain text, split into a few SMS if long."""
        await self._queue(recipient_id, text)

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: List[Dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        """Sends the text with its buttons as numbered options."""
        await self._queue(recipient_id, text, buttons)

    async def send_quick_replies(
        self,
        recipient_id: str,
        text: str,
        quick_replies: List[Dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        """Quick replies are options too."""
        await self._queue(recipient_id, text, quick_replies)

    async def send_image_url(
        self, recipient_id: str, image: str, **kwargs: Any
    ) -> None:
        """Sends the image's address (no MMS)."""
        await self._queue(recipient_id, image)

    async def send_attachment(
        self, recipient_id: str, attachment: str, **kwargs: Any
    ) -> None:
        """Sends the attachment's address or text."""
        await self._queue(recipient_id, str(attachment))

    async def send_elements(
        self, recipient_id: str, elements: Any, **kwargs: Any
    ) -> None:
        """Sends each element's title, subtitle and options."""
        for element in elements or []:
            text = "\n".join(
                str(element.get(key))
                for key in ("title", "subtitle")
                if element.get(key)
            )
            await self._queue(recipient_id, text, element.get("buttons"))

    async def send_custom_json(
        self, recipient_id: str, json_message: Dict[str, Any], **kwargs: Any
    ) -> None:
        """Custom payloads are for other channels: ignored over SMS."""
        logger.debug("SMS channel ignores a custom payload")
