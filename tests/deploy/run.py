"""The deploy test: deploy/README.md followed step by step, from a freshly built bundle, on this
machine, with no systemd and without touching the machine's own installation.

Every step is a command of the guide (``GUIDE`` below, each quoted exactly as the README gives it;
tests/unit/test_deploy_guide.py checks they are there, and that every command of the guide is run
here or named in ``NOT_RUN`` with the reason). The paths and names of the production defaults are
moved into a throwaway root and throwaway PostgreSQL roles and databases; the commands are the
same. ``systemctl`` is tests/deploy/systemctl_standin.py, which runs the installed units' own
command lines; nginx is Debian's, with the installed site included from a private main
configuration on loopback ports and a self-signed certificate made by the installer.

What it proves, in order: the bundle builds (the project's wheel with migrations and catalogs,
every dependency and the build tools); the installer runs offline (pip without an index, proxies
pointing at a closed port) as the guide says and again twice as an upgrade; ``nginx -t`` passes on
this nginx; gunicorn and two workers run as the service account; an admin and two coordinators log
in with TOTP through nginx on a port that is not 443; an alert goes out through the fake Twilio and
its status callbacks come back through nginx with valid signatures; HELP names the imported
network's hotline; /metrics answers the token through nginx and no one else; a backup restores into
a new database as the owner and the services carry on as the application role.

Run by .ci/run after the suite (as root, with PostgreSQL on 127.0.0.1 and nginx installed):
    .venv/bin/python -m tests.deploy.run [--keep]
Everything it made is removed at the end, even when it fails (--keep leaves the folder).
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyotp
import requests
import sqlalchemy as sa
from lxml import html as lxml_html
from sqlalchemy.pool import NullPool

SOURCE = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).with_name("systemctl_standin.py")
PG = {"PGHOST": os.environ.get("PGHOST", "127.0.0.1"), "PGPORT": os.environ.get("PGPORT", "5432"),
      "PGUSER": os.environ.get("PGUSER", "postgres")}
FAKE_SID = "AC" + "f" * 32
FAKE_TOKEN = "fake-auth-token"  # noqa: S105 - the fake Twilio's documented default
FAKE_FROM = "+15005550006"
# Debian's Python, as the guide installs it: the service account must be able to run the venv's
# interpreter (a Python under /root, such as pyenv's, would not do).
SYSTEM_PYTHON = "/usr/bin/python3"
CLOSED = "http://127.0.0.1:9"  # nothing listens there: any network attempt of pip fails
PASSWORD = "Deploy-test-pass-2031"  # noqa: S105
REGISTRANT_PHONE = "+393331234567"
# The guide's example signature line, set in consular.env as "The first day" says.
SIGNATURES = "SMS_SIGNATURES=zh_Hans=【温州外事】;zh_Hant=【溫州外事】;en=[Wenzhou FAO];default=[Wenzhou FAO]"
TIMEOUT = 90.0  # seconds for anything asynchronous (a worker's tick, a delivery, a callback)

# --- the guide's commands, exactly as deploy/README.md gives them --------------------------------
GUIDE = {
    "bundle": "deploy/build-bundle.sh",
    "unpack": "tar xzf consular-0.1.0-py311-x86_64.tar.gz",
    "install": "sudo ./consular-0.1.0/deploy/install.sh",
    "nginx-t": "sudo nginx -t",
    "status": "systemctl status consular-web consular-worker@1 consular-worker@2",
    "config-check": "sudo consular config check",
    "network-import": "sudo consular network import /etc/consular/network.yaml",
    "create-admin": "sudo consular users create admin --role admin",
    "create-coordinator1": "sudo consular users create coordinator1 --role coordinator --name '张协调'",
    "create-coordinator2": "sudo consular users create coordinator2 --role coordinator --name '李值班'",
    "restart": "sudo systemctl restart consular-web 'consular-worker@*'",
    "metrics-token": "sudo grep METRICS_TOKEN /etc/consular/consular.env",
    "backup": "sudo consular backup --output /var/backups/consular/",
    "stop": "sudo systemctl stop consular-web 'consular-worker@*'",
    "rename-db": "sudo -u postgres psql -c 'ALTER DATABASE consular RENAME TO consular_before_restore'",
    "createdb": "sudo -u postgres createdb -O consular_owner consular",
    # (with the archive the backup step wrote in place of this example name)
    "restore": "sudo consular-owner restore /var/backups/consular/consular-backup-20310101T021500Z.tar.gz",
    "start": "sudo systemctl start consular-web consular-worker@1 consular-worker@2",
    "upgrade": "sudo ./consular-0.1.0/deploy/install.sh",
}
# Commands of the guide this test does not run, and why.
NOT_RUN = {
    "sudo apt install python3-venv postgresql postgresql-client nginx openssl":
        "the CI machine has them (.ci/run installs nginx and python3-venv when missing)",
    "scp dist/consular-0.1.0-py311-x86_64.tar.gz admin@server:":
        "one machine here: the bundle is unpacked where it was built",
    "git clone <the project's repository address> consular && cd consular":
        "the test runs in the checkout under test",
}


class DeployTestError(AssertionError):
    pass


def check(condition: object, message: str) -> None:
    if not condition:
        raise DeployTestError(message)


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port nobody listens on, distinct from every port this run handed out before.

    Picked below the kernel's ephemeral range: a port the kernel gives for ``bind(0)`` is one it may
    give again (to this run's next ``free_port`` or to any outgoing connection) once it is closed.
    """
    low = 20000
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(10000, max(low, 10001))
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise DeployTestError("no free loopback port below the ephemeral range")


def wait_for(what: str, probe: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    """Poll ``probe`` until it returns something true; the deadline only bounds a hang."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (requests.RequestException, OSError, sa.exc.SQLAlchemyError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.5)
    raise DeployTestError(f"timed out waiting for {what} (last: {last!r})")


@dataclass
class Installation:
    """Names and paths of this run: the production defaults moved out of the machine's way."""

    tag: str
    root: Path
    https_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    fake_port: int = field(default_factory=free_port)
    # Named after the tag and the ports.
    user: str = field(init=False)
    database: str = field(init=False)
    owner: str = field(init=False)
    app_role: str = field(init=False)
    base_url: str = field(init=False)

    def __post_init__(self) -> None:
        self.user = f"cdt{self.tag}"
        self.database = f"consular_dt{self.tag}"
        self.owner, self.app_role = f"{self.database}_owner", f"{self.database}_app"
        self.base_url = f"https://127.0.0.1:{self.https_port}"

    def path(self, production: str) -> Path:
        """/etc/consular/consular.env → <root>/etc/consular/consular.env."""
        return self.root / production.lstrip("/")

    @property
    def cert(self) -> Path:
        return self.path("/etc/consular/tls/selfsigned.crt")

    @property
    def nginx_conf(self) -> Path:
        return self.root / "nginx.conf"


class Run:
    def __init__(self, inst: Installation) -> None:
        self.inst = inst
        self.bundle: Path | None = None
        self.fake: subprocess.Popen[str] | None = None
        self.sessions: dict[str, requests.Session] = {}
        self.totp: dict[str, str] = {}
        self.last_code: dict[str, str] = {}
        self.step_names: list[str] = []

    # --- running commands --------------------------------------------------------------------------

    def sh(self, args: list[str], *, env: dict[str, str] | None = None, input: str | None = None,
           ok: tuple[int, ...] = (0,), cwd: Path | None = None, timeout: float = 600) -> str:
        shown = " ".join(args)
        print(f"    $ {shown}", flush=True)
        result = subprocess.run(args, env=env or self.env(), input=input, cwd=cwd, text=True,  # noqa: S603
                                capture_output=True, timeout=timeout, check=False)
        out = result.stdout + result.stderr
        if result.returncode not in ok:
            raise DeployTestError(f"`{shown}` exited {result.returncode}:\n{out[-4000:]}")
        return out

    def env(self, **extra: str) -> dict[str, str]:
        """The operator's shell: no settings of the application, the network for pip cut off."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PIP_", "CONSULAR_", "DATABASE_", "PYTHON"))
               and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
        env.update(PG)
        env.update(PIP_INDEX_URL=f"{CLOSED}/simple", PIP_NO_INDEX="1", http_proxy=CLOSED,
                   https_proxy=CLOSED, HTTP_PROXY=CLOSED, HTTPS_PROXY=CLOSED, no_proxy="",
                   NO_PROXY="")
        env.update(extra)
        return env

    def installer_env(self) -> dict[str, str]:
        i = self.inst
        return self.env(
            CONSULAR_ROOT=str(i.root), PYTHON=SYSTEM_PYTHON, SERVICE_USER=i.user,
            DB_NAME=i.database, DB_OWNER=i.owner, DB_APP=i.app_role, DB_HOST=PG["PGHOST"],
            DB_PORT=PG["PGPORT"], PG_ADMIN_USER="-",
            NGINX_CONF=str(i.nginx_conf), SYSTEMCTL=str(self.systemctl_path),
            SERVER_NAME="127.0.0.1", HTTPS_LISTEN=f"127.0.0.1:{i.https_port}",
            HTTP_LISTEN=f"127.0.0.1:{i.http_port}", PUBLIC_PORT=str(i.https_port), TLS_CERT="",
            OFFICE_NETWORK="10.0.0.0/8", WORKERS="2", WEB_BIND=f"127.0.0.1:{i.web_port}",
            WEB_WORKERS="2", TWILIO_ACCOUNT_SID=FAKE_SID, TWILIO_AUTH_TOKEN=FAKE_TOKEN,
            TWILIO_FROM_NUMBER=FAKE_FROM, TWILIO_API_BASE=f"http://127.0.0.1:{i.fake_port}")

    def wrapper(self, name: str) -> str:
        return str(self.inst.path(f"/usr/local/sbin/{name}"))

    @property
    def systemctl_path(self) -> Path:
        return self.inst.root / "systemctl"

    def systemctl(self, *args: str, ok: tuple[int, ...] = (0,)) -> str:
        return self.sh([str(self.systemctl_path), *args], ok=ok)

    def guide(self, key: str) -> None:
        print(f"    guide: {GUIDE[key]}", flush=True)

    # --- the machine around the installation ----------------------------------------------------

    def prepare(self) -> None:
        """What Debian gives an administrator: nginx's main configuration (here a private one
        that includes the installation's sites-enabled), and systemctl (here the stand-in)."""
        i = self.inst
        state = i.root / "run"
        for folder in ("var/log/nginx", "var/lib/nginx", "run"):
            (i.root / folder).mkdir(parents=True, exist_ok=True)
        shutil.chown(i.root / "var/lib/nginx", "www-data", "www-data")
        i.nginx_conf.write_text(f"""# Debian's /etc/nginx/nginx.conf, reduced and moved for the deploy test.
user www-data;
worker_processes 1;
pid {state}/nginx.pid;
error_log {i.root}/var/log/nginx/error.log;
events {{ worker_connections 128; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path {i.root}/var/lib/nginx/body;
    proxy_temp_path {i.root}/var/lib/nginx/proxy;
    fastcgi_temp_path {i.root}/var/lib/nginx/fastcgi;
    uwsgi_temp_path {i.root}/var/lib/nginx/uwsgi;
    scgi_temp_path {i.root}/var/lib/nginx/scgi;
    access_log {i.root}/var/log/nginx/access.log;
    include {i.root}/etc/nginx/sites-enabled/*;
}}
""")
        self.systemctl_path.write_text(
            f"#!/bin/sh\nexec {sys.executable} {STANDIN} --units {i.path('/etc/systemd/system')} "
            f"--state {state} --nginx-conf {i.nginx_conf} \"$@\"\n")
        self.systemctl_path.chmod(0o755)

    # --- steps -----------------------------------------------------------------------------------

    def step_bundle(self, reuse: Path | None = None) -> None:
        """Get the bundle: build it from this checkout (the one step that uses the index).
        ``reuse``: a development shortcut, an archive built before, with this checkout's deploy/."""
        self.guide("bundle")
        out = self.inst.root / "dist"
        if reuse is None:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSULAR_", "DATABASE_"))}
            env["PYTHON"] = SYSTEM_PYTHON
            self.sh([str(SOURCE / "deploy" / "build-bundle.sh"), "--output", str(out)], env=env,
                    cwd=SOURCE, timeout=900)
        else:
            out.mkdir()
            self.sh(["tar", "xzf", str(reuse)], cwd=out)
            (kit,) = out.glob("consular-*/deploy")
            shutil.rmtree(kit)
            shutil.copytree(SOURCE / "deploy", kit)
            self.sh(["tar", "czf", reuse.name, kit.parent.name], cwd=out)
        (archive,) = out.glob("consular-*.tar.gz")
        check(archive.name == GUIDE["unpack"].split()[-1],
              f"the guide names {GUIDE['unpack'].split()[-1]}, the build made {archive.name}")
        wheels = {p.name.split("-")[0].lower() for p in out.glob("consular-*/wheelhouse/*.whl")}
        check({"consular", "setuptools", "wheel", "babel", "gunicorn", "psycopg"} <= wheels,
              f"the wheelhouse lacks some of the project, its build tools or [prod]: {sorted(wheels)}")
        self.guide("unpack")
        server = self.inst.root / "server"
        server.mkdir()
        self.sh(["tar", "xzf", str(archive)], cwd=server)
        (self.bundle,) = server.glob("consular-*")

    def step_wheelhouse_alone(self) -> None:
        """With no network at all (a network namespace of its own, where even loopback is down),
        pip resolves the project with [prod] and the build tools from the wheelhouse alone."""
        assert self.bundle is not None
        if shutil.which("unshare") is None or subprocess.run(
                ["unshare", "-n", "true"], check=False, capture_output=True).returncode != 0:
            print("    (unshare -n is not possible here: the installer's offline install stands)")
            return
        venv = self.inst.root / "offline-venv"
        self.sh([SYSTEM_PYTHON, "-m", "venv", "--without-pip", str(venv)])
        pip = str(self.inst.path("/opt/consular/venv/bin/pip"))
        wheelhouse = str(self.bundle / "wheelhouse")
        (wheel,) = (self.bundle / "wheelhouse").glob("consular-*.whl")
        out = self.sh(["unshare", "-n", pip, "--python", str(venv / "bin" / "python"), "install",
                       "--dry-run", "--ignore-installed", "--no-index", "--find-links", wheelhouse,
                       f"{wheel}[prod]", "setuptools>=68", "wheel", "babel>=2.14"],
                      env=self.env(PIP_CONFIG_FILE=os.devnull))
        check("Would install" in out and "consular-0.1.0" in out, out[-2000:])

    def step_install(self, *, upgrade: bool = False) -> None:
        """sudo ./consular-<version>/deploy/install.sh (offline: no index, no proxy that works)."""
        assert self.bundle is not None
        self.guide("upgrade" if upgrade else "install")
        web_before = self._pid("consular-web.service")
        workers_before = [self._pid(f"consular-worker@{n}.service") for n in (1, 2)]
        backups_before = set(self.inst.path("/var/backups/consular").glob("*.tar.gz")) \
            if upgrade else set()
        out = self.sh([str(self.bundle / "deploy" / "install.sh")], env=self.installer_env(),
                      cwd=self.bundle.parent, input="", timeout=900)
        print("\n".join("      " + line for line in out.strip().splitlines()[-6:]))
        check("nginx -t: ok" in out, "the installer did not check nginx")
        check(("this run is an upgrade" in out) == upgrade, "first install and upgrade mixed up")
        for unit in ("consular-web.service", "consular-worker@1.service", "consular-worker@2.service"):
            check(self._pid(unit), f"{unit} is not running after the installer")
        if upgrade:
            backups = set(self.inst.path("/var/backups/consular").glob("*.tar.gz")) - backups_before
            check(len(backups) == 1, "the upgrade took no backup first")
            check(self._pid("consular-web.service") == web_before,
                  "the web service was restarted, not reloaded gracefully")
            after = [self._pid(f"consular-worker@{n}.service") for n in (1, 2)]
            check(all(a != b for a, b in zip(after, workers_before, strict=True)),
                  "the workers were not restarted")
        self.check_files()

    def check_files(self) -> None:
        """The account, the folders and the settings files, with the owners and modes the guide
        states."""
        i = self.inst
        uid, gid = pwd.getpwnam(i.user).pw_uid, grp.getgrnam(i.user).gr_gid
        for production, want in {
            "/etc/consular": (0, gid, 0o750), "/etc/consular/consular.env": (0, gid, 0o640),
            "/etc/consular/owner.env": (0, 0, 0o600), "/var/lib/consular": (uid, gid, 0o750),
            "/var/backups/consular": (uid, gid, 0o750), "/opt/consular": (0, 0, 0o755),
        }.items():
            st = i.path(production).stat()
            got = (st.st_uid, st.st_gid, st.st_mode & 0o777)
            check(got == want, f"{production}: owner, group, mode {got}, expected {want}")

    def step_nginx_and_processes(self) -> None:
        self.guide("nginx-t")
        self.sh(["nginx", "-t", "-c", str(self.inst.nginx_conf)])
        self.guide("status")
        for unit in ("consular-web", "consular-worker@1", "consular-worker@2"):
            self.systemctl("is-active", unit)
        # The services run as the service account, not root.
        for unit in ("consular-web.service", "consular-worker@1.service"):
            pid = self._pid(unit)
            status = Path(f"/proc/{pid}/status").read_text()
            uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
            check(uid == pwd.getpwnam(self.inst.user).pw_uid, f"{unit} runs as uid {uid}")
        wait_for("/healthz through nginx", lambda: self.get("/healthz").status_code == 200)
        wait_for("/readyz (schema at head, a worker alive)",
                 lambda: self.get("/readyz").status_code == 200)
        alive = wait_for("two workers ticking", lambda: self.workers_alive() == 2 and 2)
        check(alive == 2, "not two workers")
        redirect = requests.get(f"http://127.0.0.1:{self.inst.http_port}/login", timeout=10,
                                allow_redirects=False)
        check(redirect.status_code == 301 and redirect.headers["Location"] == self.inst.base_url + "/login",
              f"plain HTTP does not redirect to the public address: {redirect.headers.get('Location')}")
        static = self.get("/static/vendor/bootstrap/bootstrap.min.css")
        check(static.status_code in (200, 404), "static files")

    def step_refuses_to_guess(self) -> None:
        """A command without the installation's settings names the file and stops; the guide's
        `sudo consular config check` passes."""
        consular = str(self.inst.path("/opt/consular/venv/bin/consular"))
        home = self.inst.root / "home"
        home.mkdir(exist_ok=True)
        env = self.env(CONSULAR_ENV_FILE=str(self.inst.path("/etc/consular/consular.env")))
        out = self.sh([consular, "users", "list"], env=env, ok=(2,), cwd=home)
        check("were not loaded" in out, f"no refusal: {out}")
        check(not any(home.iterdir()), "a command without settings created files")
        self.guide("config-check")
        out = self.sh([self.wrapper("consular"), "config", "check"])
        check("configuration OK (production)" in out, out)

    def step_first_day(self) -> None:
        self.guide("network-import")
        network = str(self.inst.path("/etc/consular/network.yaml"))
        out = self.sh([self.wrapper("consular"), "network", "import", network])
        check("missions: 3 created" in out, out)
        out = self.sh([self.wrapper("consular"), "network", "import", network])
        check("missions: 0 created, 0 updated, 3 unchanged" in out, f"not idempotent: {out}")
        for username, role, name in (("admin", "admin", ""), ("coordinator1", "coordinator", "张协调"),
                                     ("coordinator2", "coordinator", "李值班")):
            self.guide("create-admin" if username == "admin" else f"create-{username}")
            extra = ["--name", name] if name else []
            # The password prompt, answered on standard input (no terminal here).
            self.sh([self.wrapper("consular"), "users", "create", username, "--role", role, *extra],
                    input=f"{PASSWORD}\n{PASSWORD}\n")
        for username in ("admin", "coordinator1", "coordinator2"):
            self.log_in_first_time(username)

    def step_signature(self) -> None:
        """The office's signature set in consular.env as the guide shows (the installer leaves it
        empty), checked and the services restarted: the alert below must open with it."""
        env_file = self.inst.path("/etc/consular/consular.env")
        text = env_file.read_text(encoding="utf-8")
        check(re.search(r"^SMS_SIGNATURES=$", text, re.M), "the installer did not leave SMS_SIGNATURES empty")
        guide_text = (SOURCE / "deploy" / "README.md").read_text(encoding="utf-8")
        check(SIGNATURES in guide_text, "the guide does not show this signature line")
        env_file.write_text(re.sub(r"^SMS_SIGNATURES=$", SIGNATURES, text, flags=re.M), encoding="utf-8")
        self.guide("config-check")
        out = self.sh([self.wrapper("consular"), "config", "check"])
        check("configuration OK (production)" in out, out)
        self.guide("restart")
        self.systemctl("restart", "consular-web", "consular-worker@1", "consular-worker@2")
        wait_for("/readyz after the restart", lambda: self.get("/readyz").status_code == 200)

    # --- the web side, through nginx ---------------------------------------------------------------

    def get(self, path: str, session: requests.Session | None = None, **kw: Any) -> requests.Response:
        client = session or requests
        return client.get(self.inst.base_url + path, verify=str(self.inst.cert), timeout=20, **kw)

    def post_form(self, session: requests.Session, page: str, data: dict[str, Any] | None = None,
                  *, form: str | None = None, action: str | None = None,
                  drop: tuple[str, ...] = ()) -> requests.Response:
        """Submit a form as a browser would: its own fields (CSRF token included) with ``data``
        over them, to its action, with the page as Referer. ``form``: an XPath; by default the
        page's form that has the most of ``data``'s fields."""
        response = self.get(page, session)
        check(response.status_code == 200, f"GET {page}: {response.status_code}")
        doc = lxml_html.fromstring(response.text)
        forms = doc.xpath(form or "//form[@method='post']")
        check(forms, f"no {form or 'form'} on {page}")
        wanted = set(data or {})
        element = max(forms, key=lambda f: len(wanted & {c.get("name") for c in f.inputs}))
        values: list[tuple[str, str]] = [(k, v) for k, v in element.form_values() if k not in drop]
        for key, value in (data or {}).items():
            values = [(k, v) for k, v in values if k != key]
            values += [(key, item) for item in (value if isinstance(value, list) else [value])]
        target = action or element.get("action") or page
        url = target if target.startswith("http") else self.inst.base_url + target
        return session.post(url, data=values, verify=str(self.inst.cert), timeout=30,
                            headers={"Referer": self.inst.base_url + page}, allow_redirects=False)

    def _code(self, username: str) -> str:
        """The authenticator's current code; a code once used is refused, so wait for the next."""
        totp = pyotp.TOTP(self.totp[username])
        wait_for("a fresh one-time code", lambda: totp.now() != self.last_code.get(username), 40)
        code = totp.now()
        self.last_code[username] = code
        return code

    def log_in_first_time(self, username: str) -> None:
        session = requests.Session()
        response = self.post_form(session, "/login", {"username": username, "password": PASSWORD})
        check(response.status_code in (302, 303) and "/login/enrol" in response.headers["Location"],
              f"{username}: login did not lead to the two-step set-up: {response.status_code} "
              f"{response.text[:300]}")
        page = self.get("/login/enrol", session)
        secret = lxml_html.fromstring(page.text).xpath("//*[@data-testid='totp-secret']")[0].text_content()
        self.totp[username] = secret.strip()
        response = self.post_form(session, "/login/enrol", {"code": self._code(username)})
        check(response.status_code in (302, 303), f"{username}: the TOTP code was refused")
        home = self.get("/", session)
        check(home.status_code == 200 and "/logout" in home.text and "/login" not in home.url,
              f"{username}: not logged in")
        check("后台任务进程已超过一分钟未运行" not in home.text, "the no-worker banner shows")
        self.sessions[username] = session

    def log_in(self, username: str) -> requests.Session:
        session = requests.Session()
        response = self.post_form(session, "/login", {"username": username, "password": PASSWORD})
        check(response.status_code in (302, 303) and "/login/code" in response.headers["Location"],
              f"{username}: no second step asked: {response.status_code}")
        response = self.post_form(session, "/login/code", {"code": self._code(username)})
        check(response.status_code in (302, 303), f"{username}: the code was refused")
        self.sessions[username] = session
        return session

    def step_alert(self) -> None:
        """A coordinator registers a person in Italy and writes an alert, a second approves it;
        the workers send it through the fake Twilio, whose signed status callbacks come back
        through nginx and move the delivery to delivered."""
        first, second = self.sessions["coordinator1"], self.sessions["coordinator2"]
        response = self.post_form(first, "/registrants/new", {
            "name": "王小明", "phone": REGISTRANT_PHONE, "kind": "citizen_abroad", "language": "it",
            "country_code": "IT", "city": "Prato", "timezone": "Europe/Rome",
            "consent_method": "written", "consent_given": "y"})
        check(response.status_code in (302, 303), f"registrant not saved: {response.status_code} "
              f"{_errors(response.text)}")
        response = self.post_form(first, "/alerts/new", {
            "event": "部署测试 Deploy test", "category": "Safety", "urgency": "Immediate",
            "severity": "Severe", "languages": ["zh_Hans", "it"],
            "headline-zh_Hans": "部署测试", "body-zh_Hans": "这是一条部署测试提醒。",
            "headline-it": "Prova di installazione", "body-it": "Messaggio di prova.",
            "area_country": "IT", "action": "submit"}, form="//form[@id='compose-form']")
        check(response.status_code in (302, 303), f"alert not saved: {response.status_code} "
              f"{_errors(response.text)}")
        alert_path = urlsplit(response.headers["Location"]).path
        check(re.fullmatch(r"/alerts/\d+", alert_path), f"unexpected redirect {alert_path}")
        self.alert_path = alert_path
        response = self.post_form(second, alert_path, form="//form[contains(@action, '/approve')]")
        check(response.status_code in (302, 303), f"approval refused: {response.status_code}")

        def delivered() -> bool:
            progress = self.get(alert_path + "/progress.json", first).json()
            return int(progress["totals"]["delivered"]) == 1
        wait_for("the delivery to be delivered (status callbacks through nginx)", delivered)
        messages = requests.get(f"http://127.0.0.1:{self.inst.fake_port}/_fake/messages", timeout=10).json()
        check(messages["by_to"].get(REGISTRANT_PHONE) == 1, f"sent {messages['by_to']} (once expected)")
        body = next(m["body"] for m in messages["messages"] if m["to"] == REGISTRANT_PHONE)
        check(body.startswith("[Wenzhou FAO]"), f"the Italian SMS does not open with the signature: {body!r}")
        stats = requests.get(f"http://127.0.0.1:{self.inst.fake_port}/_fake/stats", timeout=10).json()
        check(stats["callbacks_posted"] >= 1 and stats["callbacks_failed"] == 0,
              f"status callbacks through nginx: {stats}")
        log = self.inst.path("/var/log/nginx/consular.access.log").read_text()
        check(re.search(r'"POST /webhooks/twilio/status/\d+" 204', log), "no callback in nginx's log")
        check("?" not in "".join(line.split('"')[1] for line in log.splitlines() if '"' in line),
              "a query string in the access log")

        # HELP by SMS: the imported network's station, embassy and hotline.
        answer = requests.post(f"http://127.0.0.1:{self.inst.fake_port}/_fake/inbound", timeout=30, json={
            "from": REGISTRANT_PHONE, "to": FAKE_FROM, "body": "HELP",
            "url": self.inst.base_url + "/webhooks/twilio/inbound"}).json()
        check(answer["status"] == 200, f"inbound webhook through nginx: {answer}")
        digits = re.sub(r"\D", "", answer["body"])
        check("8657712345678" in digits and "390699990001" in digits,
              f"HELP does not name the hotline and the embassy: {answer['body']}")

    def step_metrics(self) -> None:
        self.guide("metrics-token")
        env_file = self.inst.path("/etc/consular/consular.env").read_text()
        token = re.search(r"^METRICS_TOKEN=(.+)$", env_file, re.M).group(1)  # type: ignore[union-attr]
        scraped = self.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        check(scraped.status_code == 200 and "consular_deliveries" in scraped.text,
              f"/metrics with the token through nginx: {scraped.status_code}")
        age = float(re.search(r"^consular_worker_last_tick_age_seconds (\S+)$", scraped.text,
                              re.M).group(1))  # type: ignore[union-attr]
        check(0 <= age < 120, f"worker age {age} with two workers running")
        check(self.get("/metrics").status_code == 404, "/metrics without the token from loopback")
        spoofed = self.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"})
        check(spoofed.status_code == 404, "a forged X-Forwarded-For opened /metrics")

    def step_backup_and_restore(self) -> None:
        self.guide("backup")
        out = self.sh([self.wrapper("consular"), "backup", "--output",
                       str(self.inst.path("/var/backups/consular")) + "/"])
        archive = Path(re.search(r"backup written: (\S+)", out).group(1))  # type: ignore[union-attr]
        check(archive.stat().st_mode & 0o777 == 0o600, "the archive is readable by others")
        self.guide("stop")
        self.systemctl("stop", "consular-web", "consular-worker@1", "consular-worker@2")
        self.guide("rename-db")
        i = self.inst
        self.sh(["psql", "-X", "-d", "postgres", "-c",
                 f'ALTER DATABASE "{i.database}" RENAME TO "{i.database}_before_restore"'])
        self.guide("createdb")
        self.sh(["createdb", "-O", i.owner, i.database])
        self.guide("restore")
        out = self.sh([self.wrapper("consular-owner"), "restore", str(archive)])
        check("restored backup of" in out, out)
        self.guide("start")
        self.systemctl("start", "consular-web", "consular-worker@1", "consular-worker@2")
        wait_for("/readyz after the restore", lambda: self.get("/readyz").status_code == 200)
        session = self.log_in("coordinator2")
        page = self.get(self.alert_path, session)
        check(page.status_code == 200 and "部署测试" in page.text, "the alert is not in the restored data")
        # The application role works on the restored database and still cannot rewrite the audit.
        app_url = re.search(r"^DATABASE_URL=(.+)$", i.path("/etc/consular/consular.env").read_text(),
                            re.M).group(1)  # type: ignore[union-attr]
        engine = sa.create_engine(app_url.replace("postgresql://", "postgresql+psycopg://"),
                                  poolclass=NullPool)
        try:
            with engine.begin() as conn:
                check(conn.execute(sa.text("SELECT count(*) FROM registrant")).scalar_one() == 1,
                      "the registrant is not in the restored data")
            with contextlib.suppress(sa.exc.ProgrammingError), engine.begin() as conn:
                conn.execute(sa.text("UPDATE audit_entry SET action = 'forged'"))
                raise DeployTestError("the application role may rewrite audit entries after a restore")
        finally:
            engine.dispose()

    # --- helpers -------------------------------------------------------------------------------------

    def _pid(self, unit: str) -> int | None:
        try:
            pid = int((self.inst.root / "run" / f"{unit}.pid").read_text())
        except (OSError, ValueError):
            return None
        return pid if Path(f"/proc/{pid}").exists() else None

    def workers_alive(self) -> int:
        engine = sa.create_engine(self.superuser_url(self.inst.database), poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return int(conn.execute(sa.text(
                    "SELECT count(*) FROM worker_heartbeat WHERE stopped_at IS NULL "
                    "AND last_tick_at > now() - interval '60 seconds'")).scalar_one())
        finally:
            engine.dispose()

    @staticmethod
    def superuser_url(database: str) -> str:
        return f"postgresql+psycopg://{PG['PGUSER']}@{PG['PGHOST']}:{PG['PGPORT']}/{database}"

    def start_fake_twilio(self) -> None:
        """`consular fake-twilio` from the installed virtualenv; it trusts the installer's
        self-signed certificate for its callbacks to the public address."""
        consular = str(self.inst.path("/opt/consular/venv/bin/consular"))
        log = (self.inst.root / "run" / "fake-twilio.log").open("w")
        self.fake = subprocess.Popen(  # noqa: S603
            [consular, "fake-twilio", "--port", str(self.inst.fake_port)], stdout=log,
            stderr=subprocess.STDOUT, env=self.env(SSL_CERT_FILE=str(self.inst.cert)),
            start_new_session=True)
        (self.inst.root / "run" / "fake-twilio.pid").write_text(str(self.fake.pid))
        wait_for("the fake Twilio", lambda: requests.get(
            f"http://127.0.0.1:{self.inst.fake_port}/_fake/stats", timeout=2).ok, 30)

    # --- cleaning up ---------------------------------------------------------------------------------

    def cleanup(self, keep: bool) -> None:
        """Stop what runs, drop what was made; every part is tried even when another fails."""
        print("\n==> cleaning up", flush=True)
        i = self.inst
        if self.systemctl_path.exists():
            for unit in ("consular-worker@1", "consular-worker@2", "consular-web", "nginx"):
                with contextlib.suppress(Exception):
                    subprocess.run([str(self.systemctl_path), "stop", unit], timeout=120,  # noqa: S603
                                   check=False, capture_output=True)
        if self.fake is not None and self.fake.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.fake.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.fake.wait(20)
        drop_installation(i.tag)
        if not keep:
            shutil.rmtree(i.root, ignore_errors=True)
        else:
            print(f"    kept {i.root}")


def drop_installation(tag: str) -> None:
    """Drop the databases, roles, account and processes of run ``tag`` (this one or a killed one)."""
    admin = sa.create_engine(Run.superuser_url("postgres"), isolation_level="AUTOCOMMIT",
                             poolclass=NullPool)
    try:
        with admin.connect() as conn:
            names = conn.execute(sa.text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                                 {"p": f"consular_dt{tag}%"}).scalars().all()
            for name in names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            for role in (f"consular_dt{tag}_app", f"consular_dt{tag}_owner"):
                conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
    except sa.exc.SQLAlchemyError as exc:
        print(f"    warning: could not drop the databases or roles of run {tag}: {exc}")
    finally:
        admin.dispose()
    user = f"cdt{tag}"
    with contextlib.suppress(KeyError):
        uid = pwd.getpwnam(user).pw_uid
        # Whatever still runs as the throwaway account (a killed run's gunicorn or workers).
        for proc in Path("/proc").iterdir():
            with contextlib.suppress(OSError, ValueError):
                if proc.name.isdigit() and proc.stat().st_uid == uid:
                    os.kill(int(proc.name), signal.SIGKILL)
        subprocess.run(["userdel", user], check=False, capture_output=True)
    with contextlib.suppress(KeyError):
        grp.getgrnam(user)
        subprocess.run(["groupdel", user], check=False, capture_output=True)


def drop_leftovers() -> None:
    """A run killed before its clean-up (SIGKILL, a lost machine) left processes, an account, a
    folder, databases and roles: remove those of runs whose process is gone."""
    def gone(tag: str) -> bool:
        return not Path(f"/proc/{tag}").exists()

    tags: set[str] = set()
    for folder in Path(tempfile.gettempdir()).glob("consular-deploy-*-*"):
        match = re.fullmatch(r"consular-deploy-(\d+)-.*", folder.name)
        if match and gone(match.group(1)):
            for pidfile in (folder / "run" / "nginx.pid", folder / "run" / "fake-twilio.pid"):
                with contextlib.suppress(OSError, ValueError, ProcessLookupError):
                    os.kill(int(pidfile.read_text()), signal.SIGTERM)
            tags.add(match.group(1))
            shutil.rmtree(folder, ignore_errors=True)
    tags |= {m.group(1) for a in pwd.getpwall() if (m := re.fullmatch(r"cdt(\d+)", a.pw_name))}
    admin = sa.create_engine(Run.superuser_url("postgres"), poolclass=NullPool)
    with contextlib.suppress(sa.exc.SQLAlchemyError), admin.connect() as conn:
        names = conn.execute(sa.text("SELECT datname FROM pg_database UNION ALL "
                                     "SELECT rolname FROM pg_roles")).scalars().all()
        tags |= {m.group(1) for n in names if (m := re.match(r"consular_dt(\d+)", n))}
    admin.dispose()
    for tag in sorted(t for t in tags if gone(t)):
        print(f"    removing the leftovers of deploy test run {tag}")
        drop_installation(tag)


def _errors(page: str) -> str:
    with contextlib.suppress(Exception):
        doc = lxml_html.fromstring(page)
        found = doc.xpath("//*[contains(@class, 'invalid-feedback') or contains(@class, 'alert')]")
        return "; ".join(e.text_content().strip() for e in found)
    return page[:300]


@contextlib.contextmanager
def timed(name: str, done: list[str]) -> Iterator[None]:
    started = time.monotonic()
    print(f"\n==> {name}", flush=True)
    yield
    done.append(name)
    print(f"    ok ({time.monotonic() - started:.1f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the throwaway root for a look")
    parser.add_argument("--bundle", type=Path, default=None,
                        help="development only: reuse this bundle archive instead of building one")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("deploy test: needs root (it creates a service account, as the installer does)")
        return 2
    drop_leftovers()
    tag = str(os.getpid())
    root = Path(tempfile.mkdtemp(prefix=f"consular-deploy-{tag}-"))
    root.chmod(0o755)  # the service account and nginx's workers traverse it, as they do /opt
    run = Run(Installation(tag=tag, root=root))
    done: list[str] = []
    failed: str | None = None
    started = time.monotonic()

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _terminate)
    try:
        run.prepare()
        steps: list[tuple[str, Callable[[], None]]] = [
            ("Build the bundle (wheel + wheelhouse + deploy kit) and unpack it",
             lambda: run.step_bundle(args.bundle.resolve() if args.bundle else None)),
            ("Install with the installer, offline", run.step_install),
            ("nginx -t, web and two workers as the service account, redirect", run.step_nginx_and_processes),
            ("The wheelhouse alone, with no network at all", run.step_wheelhouse_alone),
            ("A command without the settings refuses; config check passes", run.step_refuses_to_guess),
            ("Fake Twilio on loopback", run.start_fake_twilio),
            ("First day: network import twice, admin and coordinators with TOTP", run.step_first_day),
            ("The office's signature in consular.env, checked, services restarted", run.step_signature),
            ("An alert through the fake Twilio, callbacks and HELP through nginx", run.step_alert),
            ("/metrics with the token through nginx, nobody else", run.step_metrics),
            ("Backup, then restore into a new database as the guide says", run.step_backup_and_restore),
            ("Upgrade: the installer again", lambda: run.step_install(upgrade=True)),
            ("Upgrade: and once more", lambda: run.step_install(upgrade=True)),
        ]
        for name, step in steps:
            failed = name
            with timed(name, done):
                step()
        failed = None
        wait_for("/readyz after the upgrades", lambda: run.get("/readyz").status_code == 200)
    except (DeployTestError, subprocess.TimeoutExpired, KeyboardInterrupt, Exception) as exc:  # noqa: BLE001
        print(f"\nFAILED at: {failed}\n{type(exc).__name__}: {exc}", flush=True)
        for log in sorted((root / "run").glob("*.log")):
            print(f"\n--- {log.name} (last lines) ---")
            print("\n".join(log.read_text(errors="replace").splitlines()[-25:]))
    finally:
        run.cleanup(args.keep)
    elapsed = time.monotonic() - started
    print(f"\ndeploy test: {len(done)} passed, {0 if failed is None else 1} failed in {elapsed:.0f} s")
    return 0 if failed is None else 1


if __name__ == "__main__":
    sys.exit(main())
