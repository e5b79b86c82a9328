"""A stand-in for `systemctl` in the deploy test, where no systemd runs.

deploy/install.sh manages the services through ``$SYSTEMCTL``; the deploy test points it at this
program, which does what systemd would do with the installed unit files, as far as the test needs:
``start`` runs the unit's ``ExecStart=`` as its ``User=``/``Group=`` in its ``WorkingDirectory=``
with exactly the ``EnvironmentFile=`` variables (plus PATH and LANG), in a session of its own;
``stop`` sends ``KillSignal=`` to that session and waits ``TimeoutStopSec=`` before SIGKILL;
``reload`` runs ``ExecReload=`` with ``$MAINPID``; ``restart``, ``reload-or-restart``,
``enable [--now]``, ``daemon-reload``, ``is-active``. The unit ``nginx`` is nginx started with the
test's own main configuration. State (pids, logs) lives in a folder of the test's.

What it does not do, and so what the deploy test does not prove: systemd's own parsing of the
units, sandboxing (ProtectSystem=, ReadWritePaths=, NoNewPrivileges=), Type=notify readiness,
Restart=, ordering, and starting at boot.

    python systemctl_standin.py --units DIR --state DIR --nginx-conf FILE COMMAND [UNIT…]
"""

from __future__ import annotations

import argparse
import configparser
import grp
import os
import pwd
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


class UnitError(RuntimeError):
    pass


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text or text.startswith(("#", ";")):
            continue
        name, _, value = text.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


class Unit:
    def __init__(self, name: str, units: Path) -> None:
        self.name = name if name.endswith(".service") else f"{name}.service"
        base, instance = self.name[: -len(".service")], ""
        if "@" in base:
            base, instance = base.split("@", 1)
            path = units / f"{base}@.service"
        else:
            path = units / self.name
        if not path.is_file():
            raise UnitError(f"Unit {self.name} not found.")
        parser = configparser.RawConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(path.read_text(encoding="utf-8"))
        self.service = {k: v.replace("%i", instance) for k, v in parser.items("Service")}

    def command(self, key: str) -> list[str]:
        return shlex.split(self.service[key])


class Manager:
    def __init__(self, units: Path, state: Path, nginx_conf: Path) -> None:
        self.units, self.state, self.nginx_conf = units, state, nginx_conf
        state.mkdir(parents=True, exist_ok=True)

    # --- bookkeeping -------------------------------------------------------------------------------

    def _pidfile(self, name: str) -> Path:
        return self.state / f"{name}.pid"

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended

    def main_pid(self, name: str) -> int | None:
        try:
            pid = int(self._pidfile(name).read_text())
        except (OSError, ValueError):
            return None
        return pid if self._alive(pid) else None

    # --- nginx ---------------------------------------------------------------------------------------

    def _nginx(self, *args: str) -> None:
        subprocess.run(["nginx", "-c", str(self.nginx_conf), *args], check=True)

    def _nginx_pid(self) -> int | None:
        for line in self.nginx_conf.read_text().splitlines():
            if line.strip().startswith("pid "):
                try:
                    pid = int(Path(line.split()[1].rstrip(";")).read_text())
                except (OSError, ValueError):
                    return None
                return pid if self._alive(pid) else None
        return None

    # --- commands ------------------------------------------------------------------------------------

    def start(self, name: str) -> None:
        if name.removesuffix(".service") == "nginx":
            if self._nginx_pid() is None:
                self._nginx()
            return
        unit = Unit(name, self.units)
        if self.main_pid(unit.name) is not None:
            return
        service = unit.service
        env = dict(BASE_ENV)
        if "EnvironmentFile" in service:
            env.update(read_env_file(Path(service["EnvironmentFile"].lstrip("-"))))
        user = service.get("User", "root")
        account = pwd.getpwnam(user)
        group = grp.getgrnam(service.get("Group", user)).gr_gid
        env.update(HOME=account.pw_dir, USER=user, LOGNAME=user)
        log = (self.state / f"{unit.name}.log").open("ab")
        process = subprocess.Popen(  # noqa: S603 - the unit's own ExecStart line
            unit.command("ExecStart"), cwd=service.get("WorkingDirectory", "/"), env=env,
            user=account.pw_uid, group=group, extra_groups=[group], stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._pidfile(unit.name).write_text(str(process.pid))
        time.sleep(0.2)
        if process.poll() is not None:
            raise UnitError(f"{unit.name} exited at once ({process.returncode}); see "
                            f"{self.state / (unit.name + '.log')}")

    def stop(self, name: str) -> None:
        if name.removesuffix(".service") == "nginx":
            if self._nginx_pid() is not None:
                self._nginx("-s", "quit")
            return
        unit = Unit(name, self.units)
        pid = self.main_pid(unit.name)
        if pid is None:
            return
        sig = getattr(signal, unit.service.get("KillSignal", "SIGTERM"))
        timeout = float(unit.service.get("TimeoutStopSec", "90").rstrip("s"))
        os.killpg(pid, sig)  # the whole session, as systemd signals the whole control group
        deadline = time.monotonic() + timeout
        while self._alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if self._alive(pid):
            os.killpg(pid, signal.SIGKILL)
        self._pidfile(unit.name).unlink(missing_ok=True)

    def reload(self, name: str) -> None:
        if name.removesuffix(".service") == "nginx":
            self._nginx("-s", "reload")
            return
        unit = Unit(name, self.units)
        pid = self.main_pid(unit.name)
        if pid is None:
            raise UnitError(f"{unit.name} is not active, cannot reload.")
        command = [part.replace("$MAINPID", str(pid)) for part in unit.command("ExecReload")]
        subprocess.run(command, check=True)  # noqa: S603 - the unit's own ExecReload line

    def is_active(self, name: str) -> bool:
        if name.removesuffix(".service") == "nginx":
            return self._nginx_pid() is not None
        return self.main_pid(Unit(name, self.units).name) is not None

    def run(self, command: str, names: list[str], now: bool) -> int:
        if command == "daemon-reload":
            return 0
        for name in names:
            if command == "enable":
                Unit(name, self.units) if name.removesuffix(".service") != "nginx" else None
                if now:
                    self.start(name)
            elif command == "start":
                self.start(name)
            elif command == "stop":
                self.stop(name)
            elif command == "restart":
                self.stop(name)
                self.start(name)
            elif command == "reload":
                self.reload(name)
            elif command == "reload-or-restart":
                if self.is_active(name):
                    self.reload(name)
                else:
                    self.start(name)
            elif command == "is-active":
                active = self.is_active(name)
                print("active" if active else "inactive")
                if not active:
                    return 3
            else:
                raise UnitError(f"this stand-in does not do {command!r}")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="systemctl")
    parser.add_argument("--units", type=Path, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--nginx-conf", type=Path, required=True)
    parser.add_argument("--now", action="store_true")
    parser.add_argument("command")
    parser.add_argument("names", nargs="*")
    args = parser.parse_intermixed_args(argv)
    try:
        return Manager(args.units, args.state, args.nginx_conf).run(args.command, args.names, args.now)
    except (UnitError, KeyError, subprocess.CalledProcessError) as exc:
        print(f"systemctl (deploy test stand-in): {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
