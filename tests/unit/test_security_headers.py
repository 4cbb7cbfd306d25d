from patient_upload.security_headers import content_security_policy, security_headers


def test_headers_for_https() -> None:
    headers = security_headers()
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age=" in headers["Strict-Transport-Security"]
    assert "geolocation=()" in headers["Permissions-Policy"]
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp


def test_no_hsts_over_plain_http_and_overrides() -> None:
    assert "Strict-Transport-Security" not in security_headers(https=False)
    csp = content_security_policy({"style-src": "'self' 'unsafe-inline'", "worker-src": ""})
    assert "style-src 'self' 'unsafe-inline'" in csp and "worker-src" not in csp
