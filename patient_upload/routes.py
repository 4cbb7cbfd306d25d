"""Every route of the patient upload service, in one table: what a patient, a tus client or a probe can ask."""

from __future__ import annotations

from aiohttp import web

from patient_upload import api, health, media, notify_callbacks, pwa, views
from patient_upload.assets import STATIC_DIR
from patient_upload.tus import handlers as tus


def setup_routes(app: web.Application) -> None:
    router = app.router
    # The patient's pages: link → date of birth → consent → upload → check and send → done (views.py).
    router.add_get("/", views.home)
    router.add_get("/p/{token}", views.link)
    router.add_post("/p/{token}", views.verify)
    router.add_get("/consent", views.consent_form)
    router.add_post("/consent", views.consent_submit)
    router.add_get("/upload", views.upload_page)
    router.add_get("/send", views.check)
    router.add_post("/send", views.send)
    router.add_get("/done", views.done)
    router.add_post("/sign-out", views.sign_out)
    # Small JSON endpoints behind the upload page (api.py).
    router.add_get("/api/uploads", api.list_uploads)
    router.add_post("/api/uploads/{upload_id}/note", api.set_note)
    # The tus 1.0 server (tus/handlers.py); POST with X-HTTP-Method-Override stands in for PATCH/DELETE/HEAD.
    for collection in ("/files", "/files/"):
        router.add_route("OPTIONS", collection, tus.options)
        router.add_post(collection, tus.create)
    item = "/files/{upload_id}"
    router.add_route("OPTIONS", item, tus.options)
    router.add_route("HEAD", item, tus.head)
    router.add_patch(item, tus.patch)
    router.add_delete(item, tus.delete)
    router.add_post(item, tus.method_override)
    # GOV.UK Notify's delivery receipts, behind a bearer token (notify_callbacks.py).
    router.add_post("/notify/callbacks", notify_callbacks.receive)
    # Objects of the filesystem store behind signed, expiring URLs (media.py).
    router.add_get("/media/{key:.+}", media.serve)
    # Liveness for the container, readiness for the load balancer (health.py).
    router.add_get("/healthz", health.healthz)
    router.add_get("/readyz", health.readyz)
    # The progressive web app: manifest, service worker, offline page, icons and assets (pwa.py).
    router.add_get("/manifest.webmanifest", pwa.manifest)
    router.add_get("/sw.js", pwa.service_worker)
    router.add_get("/offline", pwa.offline)
    router.add_get("/favicon.ico", pwa.favicon)
    router.add_get("/static/vendor/{name}", pwa.vendor)  # before the static prefix, which would shadow it
    router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
