"""Jinja2 templates for the patient pages (autoescaped; no inline script or style anywhere), and the
organisation name every page shows.

A verified patient's pages name their care team's organisation (the
team's override, else MIA_ORGANISATION_NAME); `middleware.organisation`
looks it up once per page request of a session and leaves it on the
request. Every other page (home, the date-of-birth form, a page not found)
shows MIA_ORGANISATION_NAME: before the date of birth is confirmed the
page must be the same for every token, valid or not, so the token's team
is never looked up for it (README: "The organisation name").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from patient_upload.assets import Assets
from patient_upload.state import state_of
from shared.context import AppContext
from shared.encounters.encounter import load_encounter
from shared.staff import teams

ORGANISATION = web.RequestKey("organisation", str)

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


def make_environment(assets: Assets) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["asset"] = assets.url
    env.globals["vendor"] = assets.vendor_url
    return env


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """An HTML page; patient pages are never cached (they hold a CSRF token and personal details)."""
    state = state_of(request)
    context.setdefault("session", None)
    context.setdefault("csrf_token", None)
    context.setdefault("organisation", request.get(ORGANISATION) or state.ctx.settings.messaging.organisation_name)
    html = state.templates.get_template(template).render(**context)
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def patient_organisation(ctx: AppContext, encounter_id: str) -> str:
    """The organisation name a verified patient's pages show: their encounter's team's (blocking: run in a thread)."""
    with ctx.engine.connect() as conn:
        encounter = load_encounter(conn, encounter_id)
        return teams.organisation_name(conn, ctx, encounter.team if encounter is not None else None)
