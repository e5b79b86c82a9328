#!/usr/bin/env bash
# Delete and regenerate migrations/versions/0001_initial.py from the current models.
#
# For the time before the first release only: once a database anywhere has been upgraded to
# 0001_initial, schema changes are new revisions (`consular db revision --autogenerate -m "…"`),
# never an edit of 0001. The script refuses to run when other revisions exist.
#
# Reproducible: a clean environment, a throw-away SQLite database, fixed test keys, and a
# revision template without a creation date, so the same models give the same file.
# Afterwards it checks the revisions on SQLite: upgrade to head, no difference between the
# migrated schema and the models (`flask db check`), downgrade to base.
# tests/integration/test_migrations.py checks the same, and more, on SQLite and PostgreSQL.
#
# Usage: scripts/regen_initial_migration.sh           (make migration-regen)
#        scripts/regen_initial_migration.sh --check   (make migration-check: only the checks)
#        scripts/regen_initial_migration.sh --new 0002_name "message"
#                                                     (make migration-new REV=0002_name MSG="…":
#                                                      a new revision after the current head)
#        PYTHON=/path/to/python scripts/regen_initial_migration.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CHECK_ONLY=0
NEW_REV=""
NEW_MSG=""
case "${1:-}" in
    "") ;;
    --check) CHECK_ONLY=1 ;;
    --new)
        NEW_REV="${2:?usage: $0 --new REV_ID MESSAGE}"
        NEW_MSG="${3:?usage: $0 --new REV_ID MESSAGE}"
        ;;
    *) echo "usage: $0 [--check | --new REV_ID MESSAGE]" >&2; exit 2 ;;
esac

PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
if [[ ! -x "$PYTHON" ]]; then
    echo "migrations: $PYTHON not found; run 'make setup' first (or set PYTHON=…)" >&2
    exit 2
fi

VERSIONS="migrations/versions"
INITIAL="$VERSIONS/0001_initial.py"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# The same settings the tests use (tests/conftest.py: base_overrides); nothing from the caller's
# environment (DATABASE_URL, CONSULAR_CONFIG, …) can leak in.
run_flask() {
    env -i PATH="$PATH" HOME="${HOME:-$WORK}" LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 \
        FLASK_APP="consular.app:create_app" \
        CONSULAR_ENV=test \
        INSTANCE_PATH="$WORK/instance" \
        DATABASE_URL="sqlite:///$WORK/m.db" \
        SECRET_KEY="test-secret-key-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
        FIELD_ENCRYPTION_KEYS="a:QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=" \
        SEARCH_HASH_KEY="test-search-key-yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy" \
        "$PYTHON" -m flask "$@"
}

if [[ -n "$NEW_REV" ]]; then
    echo "migrations: upgrading a throw-away database to the current head"
    run_flask db upgrade
    echo "migrations: autogenerating $NEW_REV from the difference to the models"
    run_flask db revision --autogenerate -m "$NEW_MSG" --rev-id "$NEW_REV"
    run_flask db downgrade base
elif (( ! CHECK_ONLY )); then
    mkdir -p "$VERSIONS"
    others=()
    while IFS= read -r -d '' file; do
        [[ "$file" == "$INITIAL" ]] || others+=("$file")
    done < <(find "$VERSIONS" -maxdepth 1 -name '*.py' -print0)
    if (( ${#others[@]} )); then
        echo "migrations: refusing: other revisions exist (${others[*]})." >&2
        echo "migrations: regenerating 0001 would fold their changes into it; add a revision instead." >&2
        exit 1
    fi

    echo "migrations: removing $INITIAL"
    rm -f "$INITIAL"
    rm -rf "$VERSIONS/__pycache__"

    echo "migrations: autogenerating 0001_initial from the models"
    run_flask db revision --autogenerate -m "initial schema" --rev-id 0001_initial
    [[ -f "$INITIAL" ]] || { echo "migrations: $INITIAL was not written" >&2; exit 1; }
fi

echo "migrations: checking on SQLite: upgrade to head, compare with the models, downgrade to base"
run_flask db upgrade
run_flask db check
run_flask db downgrade base

if (( CHECK_ONLY )) || [[ -n "$NEW_REV" ]]; then
    echo "migrations: ok: the revisions upgrade, match the models and downgrade (SQLite)"
else
    echo "migrations: wrote $INITIAL; review it, then run the migration tests on both backends:"
    echo "    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres" \
         ".venv/bin/pytest -q tests/integration/test_migrations.py"
fi
