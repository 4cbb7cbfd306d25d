"""GET /media/{key}: objects of the filesystem store behind HMAC-signed, expiring URLs.

`ctx.store.url(...)` (called by the portal, which also audits the view)
signs the key, expiry, download name and content type; this route serves
the file only if the signature verifies. Range requests work (video
seeking). With the S3 store the portal uses pre-signed S3 URLs instead and
this route answers 404.
"""

from __future__ import annotations

from aiohttp import web

from patient_upload.state import state_of
from shared.storage.base import InvalidKey
from shared.storage.filesystem import FilesystemStore
from shared.storage.signed_urls import content_disposition

# A served object is never a document that may run anything.
MEDIA_CSP = {
    "default-src": "'none'",
    "script-src": "'none'",
    "style-src": "'none'",
    "font-src": "'none'",
    "connect-src": "'none'",
    "worker-src": "'none'",
    "manifest-src": "'none'",
    "form-action": "'none'",
    "img-src": "'self'",
    "media-src": "'self'",
}


async def serve(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    store = state.ctx.store
    if not isinstance(store, FilesystemStore):
        raise web.HTTPNotFound(text="Not found")
    key = request.match_info["key"]
    signed = state.signer.verify(key, request.query)
    if signed is None:
        raise web.HTTPForbidden(text="This link has expired or is not valid. Reload the page to get a new one.")
    try:
        path = store.path_for(key)
    except InvalidKey:
        raise web.HTTPNotFound(text="Not found") from None
    if not path.is_file():
        raise web.HTTPNotFound(text="Not found")
    response = web.FileResponse(path, chunk_size=256 * 1024)
    response.headers["Content-Type"] = signed.content_type or "application/octet-stream"
    response.headers["Content-Disposition"] = content_disposition(signed.download_name)
    response.headers["Cache-Control"] = "private, no-store"
    return response
