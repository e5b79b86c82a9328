"""Static assets are linked under names carrying a hash of their content and may then be kept a
year; the nginx site serves those names from the plain files, compressed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Flask, url_for

from consular.auth.models import Role
from consular.web.assets import HASHED

ROOT = Path(__file__).parents[2]
SITE = ROOT / "deploy" / "nginx" / "consular.conf"


def test_pages_link_assets_by_content_hash(app: Flask) -> None:
    page = app.test_client().get("/login").get_data(as_text=True)
    linked = re.findall(r'(?:href|src)="/static/([^"]+)"', page)
    assert linked, "the login page links no static file"
    for name in linked:
        match = HASHED.match(name)
        assert match, f"{name} carries no content hash"
        response = app.test_client().get(f"/static/{name}")
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        plain = (ROOT / "consular/web/static" / (match["stem"] + match["ext"])).read_bytes()
        assert response.data == plain
        response.close()


def test_a_static_file_never_sets_the_session_cookie(app: Flask, make_user: Any,
                                                     logged_in: Any) -> None:
    browser = logged_in(make_user(Role.coordinator))
    with app.test_request_context():
        name = url_for("static", filename="css/app.css")
    response = browser.get(name)
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    response.close()
    page = browser.get("/")
    assert page.status_code == 200 and "Set-Cookie" in page.headers  # pages still refresh it
    page.close()


def test_a_changed_file_gets_a_new_name(app: Flask, tmp_path: Path) -> None:
    folder = Path(app.static_folder or "")
    probe = folder / "css" / "zz-probe-test.css"
    try:
        probe.write_text("a { color: #000; }")
        with app.test_request_context():
            first = url_for("static", filename="css/zz-probe-test.css")
        probe.write_text("a { color: #111; }  /* changed */")
        with app.test_request_context():
            second = url_for("static", filename="css/zz-probe-test.css")
        assert first != second and HASHED.match(second.removeprefix("/static/"))
        old = app.test_client().get(first)  # a page from before the change: the file, not for long
        assert old.status_code == 200 and "immutable" not in old.headers.get("Cache-Control", "")
        old.close()
    finally:
        probe.unlink(missing_ok=True)


def test_plain_names_and_strangers_are_not_kept_long(app: Flask) -> None:
    client = app.test_client()
    plain = client.get("/static/css/app.css")
    assert plain.status_code == 200 and "immutable" not in plain.headers.get("Cache-Control", "")
    plain.close()
    for path in ("/static/css/nothing.0123456789ab.css", "/static/../app.0123456789ab.py"):
        assert client.get(path).status_code == 404, path


def test_the_nginx_site_serves_hashed_names_a_year_and_compresses_text() -> None:
    site = SITE.read_text()
    location = re.search(r'location ~ "(?P<re>[^"]+)" \{(?P<body>[^}]+)\}', site)
    assert location, "no location for hashed asset names"
    nginx_re = location["re"].replace("(?<", "(?P<")
    for name in ("css/app.0123456789ab.css", "vendor/bootstrap-5.3.8/bootstrap.min.0123456789ab.css"):
        served = re.match(nginx_re, f"/static/{name}")
        ours = HASHED.match(name)
        assert served and ours, name
        assert served["asset_stem"] + served["asset_ext"] == ours["stem"] + ours["ext"]
    assert "alias @STATIC_DIR@/$asset_stem$asset_ext;" in location["body"]
    assert "max-age=31536000, immutable" in location["body"]
    assert "gzip on;" in location["body"]
    types = re.search(r"gzip_types ([^;]+);", site)
    assert types and {"text/css", "application/javascript", "image/svg+xml"} <= set(types[1].split())
    # Pages are not compressed (BREACH): gzip is switched on only where static files are served.
    assert not re.search(r"^\s{4}gzip on;", site, re.MULTILINE)
