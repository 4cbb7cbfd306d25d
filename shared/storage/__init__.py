"""Object storage: one interface (`ObjectStore`), a filesystem and an S3 backend, an asyncio wrapper.

Infrastructure: imports only `shared.config` and `shared.private_files`.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from shared.config.settings import Settings
from shared.storage.base import ObjectStore
from shared.storage.filesystem import FilesystemStore
from shared.storage.s3 import S3Store, make_s3_client
from shared.storage.signed_urls import UrlSigner


def open_store(settings: Settings, url_signing_key: bytes) -> ObjectStore:
    """The store named by MIA_STORAGE_URL."""
    parts = urlsplit(settings.storage_url)
    if parts.scheme == "s3":
        client = make_s3_client(settings.s3_endpoint_url, settings.s3_region)
        return S3Store(client, parts.netloc, parts.path.strip("/"), settings.s3_part_size)
    signer = UrlSigner(url_signing_key, settings.patient_base_url)
    return FilesystemStore(Path(unquote(parts.path)), signer)
