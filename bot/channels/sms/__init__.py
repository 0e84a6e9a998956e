"""The SMS channel: Twilio webhooks in, Twilio REST API out, safe for patients.

Replaces Rasa's own `twilio` channel (same name, so the webhook stays
`/webhooks/twilio/webhook` and `tracker.get_latest_input_channel() == "twilio"`);
`credentials.yml` names `bot.channels.sms.webhook.TwilioSmsInput`. Configured from
the environment only (`bot.settings.sms`), so `credentials.yml` carries no `${VAR}`
that would stop Rasa from starting when SMS is not set up; without the settings
the webhook answers 503 "SMS channel not configured".

One module per concern, in the order a message goes through them:

- `webhook`: Twilio's signed POST in (signature, form, sender, body), the rate
  limit, then Rasa (`TwilioSmsInput`);
- `keywords`: STOP, START and HELP, which never reach Rasa;
- `output`: the bot's and staff's replies (`TwilioSmsOutput`), formatted by
- `format`: how an SMS reads (plain text, numbered options, segments, parts);
- `sender`: the background sends through Twilio, in order, with retries
  (`SmsSender`);
- `store`: opt-outs and the record of every outbound body (`sms_opt_outs`,
  `sms_messages`);
- `logs`: masks numbers in the log lines of Rasa's own loggers.

Log lines never contain a full phone number (`bot.phi.mask_phone`), message
text, or Twilio's error message (which can quote the number): only codes.
"""
