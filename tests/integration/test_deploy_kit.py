"""The deploy kit's pieces on their own (the deploy test, tests/deploy/run.py, runs them together):
the nginx site passes `nginx -t` on this machine's nginx (Debian 12's 1.22 in CI) and passes the
port to the app; every placeholder of every template is given by the installer."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

KIT = Path(__file__).resolve().parents[2] / "deploy"
TEMPLATES = [KIT / "nginx" / "consular.conf", KIT / "systemd" / "consular-web.service",
             KIT / "systemd" / "consular-worker@.service", KIT / "consular.env.template",
             KIT / "owner.env.template", KIT / "bin" / "consular", KIT / "bin" / "consular-owner"]
STRICT = os.environ.get("CONSULAR_TEST_STRICT") == "1"


def render(template: Path, values: dict[str, str]) -> str:
    """As install.sh's render(): @NAME@ replaced, none left over."""
    text = template.read_text(encoding="utf-8")
    missing = sorted(set(re.findall(r"@([A-Z_]+)@", text)) - set(values))
    assert not missing, f"{template.name}: no value for {missing}"
    return re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], text)


def test_every_placeholder_of_the_templates_is_given_by_the_installer() -> None:
    installer = (KIT / "install.sh").read_text(encoding="utf-8")
    given = set(re.findall(r"\b([A-Z_]+)=", installer)) | set(re.findall(r"export ([A-Z_ \\\n]+)",
                                                                         installer)[0].split())
    for template in TEMPLATES:
        wanted = set(re.findall(r"@([A-Z_]+)@", template.read_text(encoding="utf-8")))
        assert wanted <= given, f"{template.name}: install.sh never sets {sorted(wanted - given)}"


def test_the_nginx_site_passes_nginx_t_and_forwards_the_port(tmp_path: Path) -> None:
    if shutil.which("nginx") is None or shutil.which("openssl") is None:
        if STRICT:
            pytest.fail("nginx and openssl are needed (.ci/run installs nginx)")
        pytest.skip("nginx or openssl is not installed")
    cert, key = tmp_path / "site.crt", tmp_path / "site.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    site = tmp_path / "consular"
    site.write_text(render(KIT / "nginx" / "consular.conf", {
        "WEB_BIND": "127.0.0.1:8000", "HTTP_LISTEN": "127.0.0.1:18080",
        "HTTPS_LISTEN": "127.0.0.1:18443", "SERVER_NAME": "127.0.0.1",
        "PUBLIC_BASE_URL": "https://127.0.0.1:18443", "TLS_CERT": str(cert), "TLS_KEY": str(key),
        "NGINX_LOG_DIR": str(tmp_path), "STATIC_DIR": str(tmp_path / "static")}))
    main = tmp_path / "nginx.conf"
    # Debian's nginx.conf includes sites-enabled/* inside its http block: the same here.
    main.write_text(f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{\n"
                    f"    include /etc/nginx/mime.types;\n    include {site};\n}}\n")
    result = subprocess.run(["nginx", "-t", "-c", str(main), "-e", str(tmp_path / "error.log")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr

    text = site.read_text()
    # Host with its port: behind any port but 443 the app's CSRF check and Twilio's signatures
    # need it ("Your form expired…" otherwise).
    assert "proxy_set_header Host $http_host;" in text
    assert "proxy_set_header X-Forwarded-Host $http_host;" in text
    assert "$host;" not in text
    # /metrics is the app's to decide (token from anywhere, the office network without it).
    assert not re.search(r"^\s*(allow|deny)\b", text, flags=re.M)
