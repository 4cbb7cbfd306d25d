"""Progressive-web-app pieces: manifest, service worker, offline page, icons, static and vendor files.

The service worker caches the page shell only (our CSS/JS, the tus client,
the font, an icon and the offline page). Pages, uploads, the API and media
always go to the network: nothing a patient sends or sees is kept in it.
"""

from __future__ import annotations

import json

from aiohttp import web

from patient_upload.assets import STATIC_DIR
from patient_upload.state import state_of
from patient_upload.templating import TEMPLATE_DIR, render

THEME_COLOUR = "#005eb8"
ICON_SIZES = (192, 512)


async def manifest(request: web.Request) -> web.Response:
    assets = state_of(request).assets
    icons = [
        {"src": assets.url(f"icons/icon-{size}.png"), "sizes": f"{size}x{size}", "type": "image/png", "purpose": "any"}
        for size in ICON_SIZES
    ]
    icons.append(
        {"src": assets.url("icons/maskable-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "maskable"}
    )
    body = {
        "name": "Send photos to your care team",
        "short_name": "Send photos",
        "description": "Send photos and videos your NHS care team asked for, safely and with your consent.",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#f0f4f5",
        "theme_color": THEME_COLOUR,
        "lang": "en-GB",
        "icons": icons,
    }
    return web.Response(
        text=json.dumps(body, indent=2),
        content_type="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


async def service_worker(request: web.Request) -> web.Response:
    assets = state_of(request).assets
    script = (TEMPLATE_DIR / "sw.js").read_text(encoding="utf-8")
    script = script.replace("__CACHE_NAME__", json.dumps(f"mia-shell-{assets.version}"))
    script = script.replace("__SHELL_URLS__", json.dumps(assets.shell_urls()))
    return web.Response(
        text=script, content_type="text/javascript", charset="utf-8", headers={"Cache-Control": "no-cache"}
    )


async def offline(request: web.Request) -> web.Response:
    response = render(request, "offline.html")
    response.headers["Cache-Control"] = "no-cache"
    return response


async def vendor(request: web.Request) -> web.FileResponse:
    path = state_of(request).assets.vendor.get(request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound(text="Not found")
    return web.FileResponse(path)


async def favicon(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "icons" / "icon-48.png")
