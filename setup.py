"""Build step: compile the translation catalogs into the wheel.

Everything else about the package is declared in ``pyproject.toml``. This file only adds one thing
setuptools cannot be told declaratively: when a wheel is built, every ``.po`` catalog under
``i18n/translations`` (the interface's ``messages`` domain and the ``sms`` domain of system texts)
is compiled with Babel into ``.mo`` files inside the build tree, so an installed copy speaks every
language without a separate step and without the source tree. The source tree itself is left
alone: a development checkout compiles its catalogs with ``make i18n-compile`` as before.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CATALOGS = Path("i18n") / "translations"
DOMAINS = ("messages", "sms")


class BuildPyWithCatalogs(build_py):
    """``build_py`` followed by a compilation of every catalog into the build tree."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the source tree, compiled by `make i18n-compile`
        compiled = self.compile_catalogs(Path(self.build_lib))
        if not compiled:
            raise SystemExit(f"no catalogs found under {CATALOGS}: the package would have no languages")

    def compile_catalogs(self, build_lib: Path) -> list[Path]:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        written: list[Path] = []
        for po in sorted(CATALOGS.glob("*/LC_MESSAGES/*.po")):
            domain, locale = po.stem, po.parent.parent.name
            if domain not in DOMAINS:
                continue
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=locale, domain=domain)
            problems = [f"{po}:{message.lineno}: {error}"
                        for message, errors in catalog.check() for error in errors]
            if problems:
                raise SystemExit("catalog errors:\n" + "\n".join(problems))
            target = build_lib / po.with_suffix(".mo")
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as fh:
                write_mo(fh, catalog, use_fuzzy=False)  # as `pybabel compile`: fuzzy entries are left out
            written.append(target)
        self.announce(f"compiled {len(written)} catalogs into {build_lib / CATALOGS}", level=2)
        return written


setup(cmdclass={"build_py": BuildPyWithCatalogs})
