"""The queries of the staff console's pages, one module per resource.

- `conversations`: the list with its filters, one conversation, reviews, tags;
- `transcripts`: a conversation's messages and notable events (Rasa's events);
- `corrections`: corrected labels and their NLU export;
- `intake`: intake requests;
- `handoffs`: the staff queue of handoffs;
- `accounts`: staff accounts, their passwords, reset links and second factor;
- `sessions`: staff sessions, stored under their cookie's keyed hash;
- `signin`: sign-in attempts, the address lock and the lockout counter (the
  rules themselves are in `bot.console.auth`);
- `audit`: writing and reading the audit log;
- `overview`: the overview page's figures;
- `answers`: answer analytics (times given, votes and reasons per answer key,
  requests for a person right after, conversations resolved without a person);
- `feedback`: patients' votes on curated answers (written by the widget's
  channel, `bot.channels.feedback`);
- `saved_replies`: the admins' reply templates;
- `releases`: the active model and its history.

Every function takes a SQLAlchemy `Connection` or `Session` (inside one
transaction), so a page's reads and its audit entry commit together. All use the
2.0-style `select()`/`insert()`/`update()`/`delete()` constructs.
"""
