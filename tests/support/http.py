"""Checks shared by the page and API tests: the security headers every response carries."""

from __future__ import annotations

from typing import Any


def assert_security_headers(response: Any, *, page: bool = True, hsts: bool = False) -> None:
    h = response.headers
    csp = h.get("Content-Security-Policy", "")
    for directive in ("default-src 'self'", "script-src 'self'", "object-src 'none'",
                      "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"):
        assert directive in csp, (response.status_code, directive)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert h.get("X-Content-Type-Options") == "nosniff"
    assert h.get("X-Frame-Options") == "DENY"
    assert h.get("Referrer-Policy") == "same-origin"
    if page:
        assert h.get("Cache-Control") == "no-store", response.status_code
    if hsts:
        assert h.get("Strict-Transport-Security", "").startswith("max-age=31536000")
    else:
        assert "Strict-Transport-Security" not in h
