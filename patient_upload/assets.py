"""Static assets of the patient pages: our own files, npm-installed vendor files, and their version.

tus-js-client and the Inter font come from npm (package.json / package-lock.json,
installed by `make`), never from a CDN; they are served from node_modules
through an explicit allowlist. The version is a hash of every shell file: it
busts browser caches and names the service worker's cache.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from shared.config.settings import PROJECT_ROOT

STATIC_DIR = Path(__file__).resolve().parent / "static"
NODE_MODULES = PROJECT_ROOT / "node_modules"
VENDOR_FILES = {
    "tus.min.js": "tus-js-client/dist/tus.min.js",
    "inter-latin-wght-normal.woff2": "@fontsource-variable/inter/files/inter-latin-wght-normal.woff2",
    "inter-latin-ext-wght-normal.woff2": "@fontsource-variable/inter/files/inter-latin-ext-wght-normal.woff2",
}
# The page shell the service worker keeps for offline use (never media, never patient data).
SHELL_FILES = ("app.css", "app.js", "upload.js", "icons/icon-192.png")
SHELL_VENDOR = tuple(VENDOR_FILES)


class MissingAssets(RuntimeError):
    """The npm-installed browser files are not there (message is one line saying how to fix it)."""


@dataclass(frozen=True)
class Assets:
    version: str
    vendor: dict[str, Path]

    @classmethod
    def load(cls, node_modules: Path = NODE_MODULES) -> Assets:
        vendor = {name: node_modules / relative for name, relative in VENDOR_FILES.items()}
        missing = [str(path) for path in vendor.values() if not path.is_file()]
        if missing:
            raise MissingAssets(
                f"browser assets missing ({missing[0]}); run `npm ci` in {PROJECT_ROOT} (make run/test do it)"
            )
        digest = hashlib.sha256()
        for path in sorted(STATIC_DIR.rglob("*")) + [vendor[name] for name in sorted(vendor)]:
            if path.is_file():
                digest.update(path.name.encode())
                digest.update(path.read_bytes())
        return cls(digest.hexdigest()[:12], vendor)

    def url(self, name: str) -> str:
        """A cache-busting URL for one of our static files."""
        return f"/static/{name}?v={self.version}"

    def vendor_url(self, name: str) -> str:
        return f"/static/vendor/{name}?v={self.version}"

    def shell_urls(self) -> list[str]:
        return (
            [self.url(name) for name in SHELL_FILES]
            + [self.vendor_url(name) for name in SHELL_VENDOR]
            + [f"/static/vendor/{name}" for name in SHELL_VENDOR if name.endswith(".woff2")]
            + ["/offline"]
        )
