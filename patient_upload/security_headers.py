"""Security headers every web part of MIA sends.

The default Content-Security-Policy allows only the service's own scripts,
styles, fonts and images; callers may loosen single directives (the portal
needs Streamlit's inline styles, for instance) by passing overrides.
"""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_CSP: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' blob: data:",
    "media-src": "'self' blob:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "worker-src": "'self'",
    "manifest-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

PERMISSIONS_POLICY = "camera=(self), microphone=(self), geolocation=(), payment=(), usb=(), interest-cohort=()"


def content_security_policy(overrides: Mapping[str, str] | None = None) -> str:
    directives = {**DEFAULT_CSP, **(overrides or {})}
    return "; ".join(f"{name} {value}" for name, value in directives.items() if value)


def security_headers(csp_overrides: Mapping[str, str] | None = None, https: bool = True) -> dict[str, str]:
    """Headers for every response; HSTS only when served over HTTPS (browsers ignore it otherwise)."""
    headers = {
        "Content-Security-Policy": content_security_policy(csp_overrides),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": PERMISSIONS_POLICY,
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-site",
    }
    if https:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    return headers
