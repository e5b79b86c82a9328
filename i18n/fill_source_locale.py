"""Copy msgid to msgstr in the English catalog: English is the source language, so its catalog is
the identity, kept complete so the completeness test can tell a forgotten `make i18n-update`."""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po


def fill(path: Path) -> int:
    with open(path, "rb") as fh:
        catalog = read_po(fh, locale="en")
    filled = 0
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            if not (isinstance(message.string, tuple) and all(message.string)):
                message.string = (message.id[0],) + tuple(message.id[1:])
                filled += 1
        elif not message.string:
            message.string = message.id
            filled += 1
        message.flags.discard("fuzzy")
    with open(path, "wb") as fh:
        write_po(fh, catalog, width=100, omit_header=False)
    return filled


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else
                  Path(__file__).parent / "translations" / "en" / "LC_MESSAGES" / "messages.po")
    print(f"{target}: {fill(target)} entries filled from source")
