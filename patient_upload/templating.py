"""Jinja2 templates for the patient pages (autoescaped; no inline script or style anywhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from patient_upload.assets import Assets
from patient_upload.state import state_of

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
    context.setdefault("session", None)
    context.setdefault("csrf_token", None)
    html = state_of(request).templates.get_template(template).render(**context)
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response
