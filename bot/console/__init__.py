"""The clinic's staff console: a server-rendered web app (Sanic + Jinja2).

Staff sign in and see what patients asked, who wants a call back, which
conversations went wrong, and anything urgent; they review and correct
conversations, answer handoffs and work the intake list. Start it with
`python -m bot.console` (port `CONSOLE_PORT`, default 8080); `bot.console.app`
builds the web app, `bot.console.__main__` has the management commands.

Nothing here touches the database at import time.
"""
