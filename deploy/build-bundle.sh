#!/usr/bin/env bash
# Build the installation bundle: the project's own wheel, every wheel it needs (and the build
# tools), and the deploy kit, in one archive that installs with no network (deploy/README.md).
#
#   deploy/build-bundle.sh [--lock FILE] [--output DIR]
#
# Run it from a checkout on a machine with access to the Python package index (or the office's
# mirror, as pip is configured there) that has the SAME Debian release, Python version and
# processor as the servers: some wheels (psycopg, lxml, cryptography) are built for them.
# Needs: python3 with venv (apt install python3-venv). Writes
#   DIR/consular-<version>/wheelhouse/   every wheel: consular-<version>-py3-none-any.whl, its
#                                        dependencies with the [prod] extra, setuptools, wheel, babel
#   DIR/consular-<version>/deploy/       the installer, templates, guide, example network
#   DIR/consular-<version>-<python>-<machine>.tar.gz   the two folders above, to copy to a server
# The dependencies are the lock file's (default requirements/prod.txt, written by `make lock`: the
# [prod] extra and the build tools, each at its exact version, every download checked against its
# hashes); --lock FILE takes another one (the same form: pinned, with hashes).
set -Eeuo pipefail
umask 022

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUTPUT="$ROOT/dist"
LOCK="$ROOT/requirements/prod.txt"
PYTHON="${PYTHON:-python3}"
while (($#)); do
    case $1 in
        --lock) LOCK="$(realpath "${2:?--lock needs a file}")"; shift 2 ;;
        --output) OUTPUT="$(realpath -m "${2:?--output needs a folder}")"; shift 2 ;;
        -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "build-bundle.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "==> A clean copy of the sources"
# Only what the package is built from: no build/ left over, no compiled catalogs of this checkout.
mkdir "$WORK/src"
for name in consular alerts i18n config migrations pyproject.toml setup.py MANIFEST.in README.md; do
    cp -a "$ROOT/$name" "$WORK/src/"
done
find "$WORK/src" \( -name __pycache__ -o -name '*.mo' -o -name '*.pyc' \) -prune -exec rm -rf {} +

echo "==> A fresh virtualenv for pip ($("$PYTHON" --version))"
"$PYTHON" -m venv "$WORK/venv"
PIP=("$WORK/venv/bin/python" -m pip --disable-pip-version-check)
VERSION="$(cd "$WORK/src" && "$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
BUNDLE="$OUTPUT/consular-$VERSION"
rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/wheelhouse"

echo "==> The project's wheel (its build step compiles the catalogs)"
# --no-deps: the lock file is the whole set; pip resolves nothing, so no newer release gets in.
"${PIP[@]}" wheel --quiet --no-deps --wheel-dir "$BUNDLE/wheelhouse" "$WORK/src"
shopt -s nullglob
built=("$BUNDLE/wheelhouse"/consular-*.whl)
shopt -u nullglob
((${#built[@]} == 1)) || { echo "build-bundle.sh: no wheel was built" >&2; exit 1; }

echo "==> Every dependency (with the [prod] extra) and the build tools, as wheels, from $(basename "$LOCK")"
[[ -f $LOCK ]] || { echo "build-bundle.sh: no lock file $LOCK (make lock writes it)" >&2; exit 1; }
# --no-deps: the lock file is the whole set; pip resolves nothing, so no newer release gets in.
"${PIP[@]}" wheel --quiet --no-deps --wheel-dir "$BUNDLE/wheelhouse" --require-hashes -r "$LOCK"

echo "==> The deploy kit"
cp -a "$ROOT/deploy" "$BUNDLE/deploy"
find "$BUNDLE/deploy" -name __pycache__ -prune -exec rm -rf {} +

TAG="$("$PYTHON" -c 'import platform, sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}-{platform.machine()}")')"
ARCHIVE="$OUTPUT/consular-$VERSION-$TAG.tar.gz"
tar -C "$OUTPUT" -czf "$ARCHIVE" "consular-$VERSION"
echo "==> $(find "$BUNDLE/wheelhouse" -name '*.whl' | wc -l) wheels; bundle: $ARCHIVE"
