"""The Models page (admins only) and the model endpoint the Rasa workers pull from.

- `GET /admin/models`: the model files, the active one, who activated what and
  when; `POST /admin/models/activate` (a file) and `POST /admin/models/rollback`
  (the model that ran before). Every change is in the audit log.
- `GET /model/active`: Rasa's `models:` endpoint. Only with `Authorization:
  Bearer $MODEL_SERVER_TOKEN` (401 otherwise; 404 when the console has no token).
  The answer is the active model file with its digest as `ETag`, or 304 when the
  worker already runs it (`If-None-Match`), or 404 when no model is active or its
  file is gone or changed (the workers then keep the model they have).
"""

from __future__ import annotations

import logging

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console import auth
from bot.console.routes.admin import admins_only
from bot.console.services import models as service
from bot.console.web import client_ip, current_user, form_value, redirect_to, render
from bot.db.offloop import off_loop

logger = logging.getLogger(__name__)
ENDPOINT = "/model/active"

bp = Blueprint("models", url_prefix="/admin/models")
bp.middleware("request")(admins_only)
endpoint = Blueprint("model_endpoint")


@bp.get("")
async def models_page(request: Request) -> HTTPResponse:
    """The model files and the activation history."""
    data = await off_loop(
        service.page, request.app.ctx.engine, request.app.ctx.models.models_dir
    )
    return render(request, "models.html", error="", **data)


async def _change(request: Request, change, *args) -> HTTPResponse:
    me = current_user(request)
    engine, models = request.app.ctx.engine, request.app.ctx.models
    try:
        folder, ip = models.models_dir, client_ip(request)
        await off_loop(change, engine, folder, *args, me.email, ip)
    except service.ModelError as error:
        data = await off_loop(service.page, engine, models.models_dir)
        return render(request, "models.html", status=400, error=str(error), **data)
    return redirect_to("/admin/models", "model")


@bp.post("/activate")
async def activate(request: Request) -> HTTPResponse:
    """Makes a model file the one every worker runs (within MODEL_PULL_SECONDS)."""
    return await _change(request, service.activate, form_value(request, "name", 300))


@bp.post("/rollback")
async def rollback(request: Request) -> HTTPResponse:
    """Activates the model that ran before the current one."""
    return await _change(request, service.rollback)


def _bearer(request: Request) -> str:
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _etag(value: str) -> str:
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


@endpoint.get(ENDPOINT)
async def active_model(request: Request) -> HTTPResponse:
    """The active model for a Rasa worker (see the module's docstring)."""
    models = request.app.ctx.models
    if models.token is None:
        return response.json({"error": "no MODEL_SERVER_TOKEN is set"}, status=404)
    if not auth.tokens_match(models.token, _bearer(request)):
        return response.json({"error": "unauthorised"}, status=401)
    found = await off_loop(service.served, request.app.ctx.engine, models.models_dir)
    if found is None:
        return response.json({"error": "no active model"}, status=404)
    path, sha = found
    if _etag(request.headers.get("if-none-match") or "") == sha:
        return response.empty(status=304, headers={"ETag": sha})
    logger.info("Serving model %s to a Rasa worker", sha[:12])
    return await response.file_stream(
        path,
        mime_type="application/gzip",
        headers={"ETag": sha, "filename": path.name},
    )
