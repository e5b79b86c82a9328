#!/usr/bin/env bash
# Install or upgrade the consular-protection system on Debian 12: deploy/README.md is its guide.
#
#   sudo ./deploy/install.sh              from an unpacked bundle (wheelhouse/ beside deploy/)
#
# First run: asks a few questions (or reads the answers from the environment, see ANSWERS below),
# then creates the service account, the folders, the virtualenv (from the wheelhouse, offline),
# the settings with fresh keys, the PostgreSQL roles and database, runs the migrations as the
# owner, writes the systemd units and the nginx site, checks nginx, and starts everything.
# Every later run is an upgrade, and asks nothing: backup, install the new wheels, migrate,
# restart the workers, reload the web service. Each step is safe to repeat.
#
# Every path, name and command below comes from a variable with the production default, so the
# deploy test (tests/deploy/) runs this same script into a throwaway root on loopback.
set -Eeuo pipefail
umask 022

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# --- where things go (production defaults; CONSULAR_ROOT prefixes every path) ---------------------
ROOT="${CONSULAR_ROOT:-}"
OPT_DIR="${OPT_DIR:-$ROOT/opt/consular}"
VENV="$OPT_DIR/venv"
ETC_DIR="${ETC_DIR:-$ROOT/etc/consular}"
DATA_DIR="${DATA_DIR:-$ROOT/var/lib/consular}"
BACKUP_DIR="${BACKUP_DIR:-$ROOT/var/backups/consular}"
SYSTEMD_DIR="${SYSTEMD_DIR:-$ROOT/etc/systemd/system}"
NGINX_SITES_AVAILABLE="${NGINX_SITES_AVAILABLE:-$ROOT/etc/nginx/sites-available}"
NGINX_SITES_ENABLED="${NGINX_SITES_ENABLED:-$ROOT/etc/nginx/sites-enabled}"
NGINX_LOG_DIR="${NGINX_LOG_DIR:-$ROOT/var/log/nginx}"
SBIN_DIR="${SBIN_DIR:-$ROOT/usr/local/sbin}"
WHEELHOUSE="${WHEELHOUSE:-$HERE/../wheelhouse}"
SERVICE_USER="${SERVICE_USER:-consular}"
SERVICE_GROUP="${SERVICE_GROUP:-$SERVICE_USER}"
SITE_NAME="${SITE_NAME:-consular}"
WEB_UNIT="${WEB_UNIT:-consular-web}"
WORKER_UNIT="${WORKER_UNIT:-consular-worker}"
DB_NAME="${DB_NAME:-consular}"
DB_OWNER="${DB_OWNER:-consular_owner}"
DB_APP="${DB_APP:-consular_app}"
DB_HOST="${DB_HOST:-localhost}"
DB_PORT="${DB_PORT:-5432}"
PYTHON="${PYTHON:-python3}"
NGINX="${NGINX:-nginx}"
NGINX_CONF="${NGINX_CONF:-}"          # empty: nginx's own (/etc/nginx/nginx.conf)
SYSTEMCTL="${SYSTEMCTL:-}"            # empty: systemctl, when systemd runs this machine
PG_ADMIN_USER="${PG_ADMIN_USER:-postgres}"  # OS account that runs psql as superuser; "-": this one
INSTALL_CONF="$ETC_DIR/install.conf"

# --- ANSWERS: asked on the first run, kept in install.conf for the upgrades ------------------------
#   SERVER_NAME      host name people and Twilio use (e.g. consular.wenzhou.gov.cn)
#   HTTPS_LISTEN     nginx's TLS listen address (443)
#   HTTP_LISTEN      nginx's plain-HTTP listen address that redirects to HTTPS (80)
#   PUBLIC_PORT      the port in the public address (443: none shown)
#   TLS_CERT TLS_KEY certificate chain and key files; empty: a self-signed pair for a trial
#   OFFICE_NETWORK   networks whose Prometheus reads /metrics without the token (CIDR, commas)
#   WORKERS          worker services to run (2)
#   WEB_BIND         gunicorn's address for nginx (127.0.0.1:8000); WEB_WORKERS its processes
# and, on the first run only (they go into consular.env, which a re-run never rewrites):
#   TWILIO_ACCOUNT_SID TWILIO_AUTH_TOKEN TWILIO_MESSAGING_SERVICE_SID TWILIO_FROM_NUMBER
#   TWILIO_API_BASE  (a stand-in for Twilio; empty for Twilio itself); no SID: the console gateway
ANSWER_NAMES=(SERVER_NAME HTTPS_LISTEN HTTP_LISTEN PUBLIC_PORT TLS_CERT TLS_KEY OFFICE_NETWORK WORKERS
              WEB_BIND WEB_WORKERS)

step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }
trap 'die "step failed at line $LINENO: $BASH_COMMAND"' ERR

# --- 0. prerequisites ------------------------------------------------------------------------------
step "Checking prerequisites"
[[ $(id -u) -eq 0 ]] || die "run as root: sudo $0"
missing=()
for tool in "$PYTHON" psql pg_dump pg_restore "$NGINX" openssl runuser useradd groupadd; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    die "missing: ${missing[*]}. On Debian 12: apt install python3-venv postgresql postgresql-client nginx openssl"
fi
"$PYTHON" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || die "$PYTHON must be Python 3.11 or newer with the venv module (apt install python3-venv)"
WHEELHOUSE="$(cd "$WHEELHOUSE" 2>/dev/null && pwd)" || die "no wheelhouse at $WHEELHOUSE (see deploy/README.md, \"Get the bundle\")"
shopt -s nullglob
wheels=("$WHEELHOUSE"/consular-*.whl)
shopt -u nullglob
((${#wheels[@]} == 1)) || die "expected exactly one consular-*.whl in $WHEELHOUSE, found ${#wheels[@]}"
PROJECT_WHEEL="${wheels[0]}"
note "installing $(basename "$PROJECT_WHEEL") from $WHEELHOUSE"
cd /  # every path is absolute from here; commands run as postgres need no access to the caller's folder

if [[ -z $SYSTEMCTL && -d /run/systemd/system ]]; then
    SYSTEMCTL=systemctl
fi
systemctl_() { [[ -n $SYSTEMCTL ]] && $SYSTEMCTL "$@"; }
pg_admin() {
    if [[ $PG_ADMIN_USER == "-" ]]; then "$@"; else runuser -u "$PG_ADMIN_USER" -- "$@"; fi
}

# --- 1. answers ------------------------------------------------------------------------------------
step "Settings of this installation ($INSTALL_CONF)"
# An upgrade once a run got as far as the units (a first run that stopped earlier is resumed as a
# first run: nothing to back up, services to start).
UPGRADE=0
if [[ -f $SYSTEMD_DIR/$WEB_UNIT.service ]]; then UPGRADE=1; fi
if [[ -f $INSTALL_CONF ]]; then
    # The saved answers; a variable given in the environment wins (e.g. a new certificate path).
    while IFS='=' read -r name value; do
        [[ $name =~ ^[A-Z_]+$ ]] || continue
        [[ -n ${!name+x} ]] || printf -v "$name" '%s' "$value"
    done <"$INSTALL_CONF"
fi
if ((UPGRADE)); then note "an installation exists: this run is an upgrade"; fi
ask() {  # ask NAME "question" DEFAULT
    local name=$1 question=$2 default=${3-}
    if [[ -n ${!name+x} ]]; then return; fi
    if [[ -t 0 ]]; then
        local reply
        read -r -p "    $question [${default}]: " reply
        printf -v "$name" '%s' "${reply:-$default}"
    else
        printf -v "$name" '%s' "$default"
    fi
}
ask SERVER_NAME "Host name of this service (people and Twilio use it)" "$(hostname -f 2>/dev/null || hostname)"
ask HTTPS_LISTEN "nginx HTTPS listen address" "443"
ask HTTP_LISTEN "nginx HTTP listen address (redirects to HTTPS)" "80"
ask PUBLIC_PORT "Port in the public address" "${HTTPS_LISTEN##*:}"
ask TLS_CERT "TLS certificate chain file (empty: make a self-signed one for a trial)" ""
if [[ -n $TLS_CERT ]]; then ask TLS_KEY "TLS private key file" ""; else TLS_KEY="${TLS_KEY:-}"; fi
ask OFFICE_NETWORK "Office network allowed to read /metrics without the token (CIDR)" "10.0.0.0/8"
ask WORKERS "Number of worker services" "2"
if [[ -f $ETC_DIR/consular.env ]]; then
    # gunicorn listens where consular.env says; nginx must send there.
    WEB_BIND="$(sed -n 's/^CONSULAR_BIND=//p' "$ETC_DIR/consular.env" | tail -n1)"
    WEB_BIND="${WEB_BIND:-127.0.0.1:8000}"
fi
ask WEB_BIND "gunicorn address for nginx" "127.0.0.1:8000"
ask WEB_WORKERS "gunicorn processes" "$(( $(nproc) * 2 + 1 ))"
if [[ ! -f $ETC_DIR/consular.env ]]; then
    ask TWILIO_ACCOUNT_SID "Twilio account SID (AC…; empty: no SMS, console only)" ""
fi
TWILIO_ACCOUNT_SID="${TWILIO_ACCOUNT_SID:-}"
if [[ -n $TWILIO_ACCOUNT_SID && ! -f $ETC_DIR/consular.env ]]; then
    ask TWILIO_AUTH_TOKEN "Twilio auth token" ""
    ask TWILIO_MESSAGING_SERVICE_SID "Twilio Messaging Service SID (MG…; empty: a From number)" ""
    if [[ -z $TWILIO_MESSAGING_SERVICE_SID ]]; then ask TWILIO_FROM_NUMBER "Twilio From number (E.164)" ""; fi
fi
TWILIO_AUTH_TOKEN="${TWILIO_AUTH_TOKEN:-}"
TWILIO_MESSAGING_SERVICE_SID="${TWILIO_MESSAGING_SERVICE_SID:-}"
TWILIO_FROM_NUMBER="${TWILIO_FROM_NUMBER:-}"
TWILIO_API_BASE="${TWILIO_API_BASE:-}"
[[ $WORKERS =~ ^[1-9][0-9]?$ ]] || die "WORKERS must be a number from 1 to 99, not $WORKERS"
if [[ -n $TLS_CERT && -z $TLS_KEY ]]; then die "TLS_CERT is set but TLS_KEY is not"; fi
if [[ $PUBLIC_PORT == 443 ]]; then PUBLIC_BASE_URL="https://$SERVER_NAME"
else PUBLIC_BASE_URL="https://$SERVER_NAME:$PUBLIC_PORT"; fi
note "public address: $PUBLIC_BASE_URL"

# --- 2. service account and folders ----------------------------------------------------------------
step "Service account $SERVICE_USER and folders"
getent group "$SERVICE_GROUP" >/dev/null || groupadd --system "$SERVICE_GROUP"
if ! getent passwd "$SERVICE_USER" >/dev/null; then
    useradd --system --gid "$SERVICE_GROUP" --home-dir "$DATA_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "consular protection services" "$SERVICE_USER"
fi
# root owns the code and the settings; the service account owns its data and the backups.
install -d -m 0755 -o root -g root "$OPT_DIR"
install -d -m 0750 -o root -g "$SERVICE_GROUP" "$ETC_DIR"
install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_GROUP" "$DATA_DIR" "$BACKUP_DIR"
mkdir -p "$SYSTEMD_DIR" "$NGINX_SITES_AVAILABLE" "$NGINX_SITES_ENABLED" "$NGINX_LOG_DIR" "$SBIN_DIR"
note "$OPT_DIR (code), $ETC_DIR (settings), $DATA_DIR (data), $BACKUP_DIR (backups)"

{
    echo "# Answers of deploy/install.sh for this installation; an upgrade reads them. Edit and re-run."
    for name in "${ANSWER_NAMES[@]}"; do printf '%s=%s\n' "$name" "${!name}"; done
} >"$INSTALL_CONF.new"
chmod 0600 "$INSTALL_CONF.new"
mv "$INSTALL_CONF.new" "$INSTALL_CONF"

# --- 3. backup before an upgrade --------------------------------------------------------------------
if ((UPGRADE)) && [[ -x $SBIN_DIR/consular && -f $ETC_DIR/consular.env ]]; then
    step "Backup before the upgrade"
    "$SBIN_DIR/consular" backup --output "$BACKUP_DIR/"
fi

# --- 4. virtualenv from the wheelhouse (offline) -----------------------------------------------------
step "Virtualenv $VENV from the wheelhouse (no network)"
[[ -x $VENV/bin/python ]] || "$PYTHON" -m venv "$VENV"
# The wheelhouse alone: no index, no pip configuration of this machine (a mirror, extra links).
offline_pip() { PIP_CONFIG_FILE=/dev/null "$VENV/bin/pip" --disable-pip-version-check "$@"; }
offline_pip install --quiet --no-index --find-links "$WHEELHOUSE" "${PROJECT_WHEEL}[prod]"
# The same version number may carry new code (a rebuilt bundle): the project itself is replaced.
offline_pip install --quiet --no-index --no-deps --force-reinstall "$PROJECT_WHEEL"
runuser -u "$SERVICE_USER" -- "$VENV/bin/python" -c 'import consular' 2>/dev/null \
    || die "$SERVICE_USER cannot run $VENV/bin/python: use a Python it can read (Debian's /usr/bin/python3, PYTHON=…), then remove $VENV and re-run"
install -m 0644 "$HERE/gunicorn.conf.py" "$OPT_DIR/gunicorn.conf.py"
STATIC_DIR="$("$VENV/bin/python" -c 'import consular, pathlib; print(pathlib.Path(consular.__file__).parent / "web" / "static")')"
note "installed: consular $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("consular"))')"

# Templates: @NAME@ is replaced by the variable NAME; a name left over is an error.
render() {  # render TEMPLATE TARGET MODE OWNER:GROUP
    local template=$1 target=$2 mode=$3 owner=$4
    "$PYTHON" - "$template" "$target.new" <<'PY'
import os, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
missing = sorted({m for m in re.findall(r"@([A-Z_]+)@", text) if m not in os.environ})
if missing:
    sys.exit(f"{sys.argv[1]}: no value for {', '.join(missing)}")
text = re.sub(r"@([A-Z_]+)@", lambda m: os.environ[m.group(1)], text)
with open(sys.argv[2], "w", encoding="utf-8") as fh:
    fh.write(text)
PY
    chmod "$mode" "$target.new"
    chown "$owner" "$target.new"
    mv "$target.new" "$target"
}
export OPT_DIR VENV ETC_DIR DATA_DIR SERVICE_USER SERVICE_GROUP DB_NAME DB_OWNER DB_APP DB_HOST \
    DB_PORT SERVER_NAME HTTPS_LISTEN HTTP_LISTEN PUBLIC_BASE_URL WEB_BIND WEB_WORKERS STATIC_DIR \
    NGINX_LOG_DIR TWILIO_ACCOUNT_SID TWILIO_AUTH_TOKEN TWILIO_MESSAGING_SERVICE_SID \
    TWILIO_FROM_NUMBER TWILIO_API_BASE

# --- 5. settings with fresh keys (first run only) ----------------------------------------------------
step "Settings $ETC_DIR/consular.env"
secret() { "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(48))'; }
password() { "$PYTHON" -c 'import secrets; print(secrets.token_hex(24))'; }
if [[ ! -f $ETC_DIR/consular.env ]]; then
    SECRET_KEY="$(secret)" SEARCH_HASH_KEY="$(secret)" METRICS_TOKEN="$(secret)" \
    FIELD_ENCRYPTION_KEY="$("$VENV/bin/consular" keys generate --kid k1)" \
    DB_APP_PASSWORD="$(password)" METRICS_ALLOW="${OFFICE_NETWORK:-127.0.0.1/32,::1/128}" \
    SMS_GATEWAY="$([[ -n $TWILIO_ACCOUNT_SID ]] && echo twilio || echo console)" \
        render "$HERE/consular.env.template" "$ETC_DIR/consular.env" 0640 "root:$SERVICE_GROUP"
    note "written with fresh keys: back up FIELD_ENCRYPTION_KEYS and SEARCH_HASH_KEY now (deploy/README.md)"
else
    # Kept as it is: it holds the keys (also when restored from the key backup onto a new server).
    chown "root:$SERVICE_GROUP" "$ETC_DIR/consular.env"
    chmod 0640 "$ETC_DIR/consular.env"
    note "kept as it is (never rewritten: it holds the keys)"
fi
if [[ ! -f $ETC_DIR/owner.env ]]; then
    DB_OWNER_PASSWORD="$(password)" render "$HERE/owner.env.template" "$ETC_DIR/owner.env" 0600 root:root
fi
"$VENV/bin/consular" config check --env-file "$ETC_DIR/consular.env" >/dev/null \
    || die "$ETC_DIR/consular.env does not pass: consular config check --env-file $ETC_DIR/consular.env"
render "$HERE/bin/consular" "$SBIN_DIR/consular" 0755 root:root
render "$HERE/bin/consular-owner" "$SBIN_DIR/consular-owner" 0700 root:root
if [[ ! -f $ETC_DIR/network.yaml ]]; then
    install -m 0640 -o root -g "$SERVICE_GROUP" "$HERE/network-example.yaml" "$ETC_DIR/network.yaml"
fi
note "commands: sudo consular … (as $SERVICE_USER), sudo consular-owner db upgrade|restore (as $DB_OWNER)"

# --- 6. database: roles, then the database they own, then migrations as the owner --------------------
step "PostgreSQL: roles $DB_OWNER and $DB_APP, database $DB_NAME, migrations"
url_password() {  # the password in a DATABASE_URL line of an env file
    "$VENV/bin/python" -c 'import sys
from config import read_env_file
from sqlalchemy.engine import make_url
print(make_url(read_env_file(sys.argv[1])["DATABASE_URL"]).password or "")' "$1"
}
pg_admin psql -X -q -d postgres -v ON_ERROR_STOP=1 -v owner="$DB_OWNER" -v app="$DB_APP" \
    -v owner_password="$(url_password "$ETC_DIR/owner.env")" \
    -v app_password="$(url_password "$ETC_DIR/consular.env")" -f - <"$HERE/postgresql-roles.sql"
# (psql reads the statements from standard input: it expands :'name' there, not in -c.)
if [[ -z $(pg_admin psql -X -At -d postgres -v name="$DB_NAME" \
        <<<"SELECT 1 FROM pg_database WHERE datname = :'name'") ]]; then
    pg_admin createdb -O "$DB_OWNER" "$DB_NAME"
    note "database $DB_NAME created, owned by $DB_OWNER"
fi
pg_admin psql -X -At -d postgres -v name="$DB_NAME" -v owner="$DB_OWNER" \
    <<<"SELECT 1 FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
        WHERE d.datname = :'name' AND r.rolname = :'owner'" | grep -q 1 \
    || die "database $DB_NAME exists but is not owned by $DB_OWNER (ALTER DATABASE $DB_NAME OWNER TO $DB_OWNER)"
"$SBIN_DIR/consular-owner" db upgrade

# --- 7. TLS, units, nginx --------------------------------------------------------------------------
step "TLS certificate"
if [[ -z $TLS_CERT ]]; then
    install -d -m 0750 -o root -g root "$ETC_DIR/tls"
    TLS_CERT="$ETC_DIR/tls/selfsigned.crt" TLS_KEY="$ETC_DIR/tls/selfsigned.key"
    if [[ ! -f $TLS_CERT ]]; then
        if [[ $SERVER_NAME =~ ^[0-9.]+$ ]]; then san="IP:$SERVER_NAME"; else san="DNS:$SERVER_NAME"; fi
        openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=$SERVER_NAME" \
            -addext "subjectAltName=$san" -keyout "$TLS_KEY" -out "$TLS_CERT" 2>/dev/null
        chmod 0600 "$TLS_KEY"
        chmod 0644 "$TLS_CERT"
    fi
    note "self-signed (a trial only; browsers and Twilio will not trust it): $TLS_CERT"
else
    [[ -r $TLS_CERT && -r $TLS_KEY ]] || die "cannot read $TLS_CERT or $TLS_KEY"
    note "$TLS_CERT"
fi
export TLS_CERT TLS_KEY

step "systemd units in $SYSTEMD_DIR"
render "$HERE/systemd/consular-web.service" "$SYSTEMD_DIR/$WEB_UNIT.service" 0644 root:root
render "$HERE/systemd/consular-worker@.service" "$SYSTEMD_DIR/$WORKER_UNIT@.service" 0644 root:root
workers=()
for ((n = 1; n <= WORKERS; n++)); do workers+=("$WORKER_UNIT@$n.service"); done
note "$WEB_UNIT.service, ${workers[*]}"

step "nginx site $NGINX_SITES_AVAILABLE/$SITE_NAME"
render "$HERE/nginx/consular.conf" "$NGINX_SITES_AVAILABLE/$SITE_NAME" 0644 root:root
ln -sfn "$NGINX_SITES_AVAILABLE/$SITE_NAME" "$NGINX_SITES_ENABLED/$SITE_NAME"
nginx_args=()
[[ -z $NGINX_CONF ]] || nginx_args=(-c "$NGINX_CONF")
"$NGINX" -t -q "${nginx_args[@]}" || die "nginx -t failed: the site is in $NGINX_SITES_AVAILABLE/$SITE_NAME"
note "nginx -t: ok"

# --- 8. start (first run) or restart in the upgrade's order -----------------------------------------
if [[ -z $SYSTEMCTL ]]; then
    step "systemd is not running here: start the services yourself"
    note "systemctl daemon-reload && systemctl enable --now $WEB_UNIT.service ${workers[*]}"
    note "systemctl reload nginx"
else
    step "Services"
    systemctl_ daemon-reload
    if ((UPGRADE)); then
        # Workers first (leases hand their claimed messages to the others), then a graceful reload
        # of the web service.
        systemctl_ enable "$WEB_UNIT.service" "${workers[@]}"
        for unit in "${workers[@]}"; do systemctl_ restart "$unit"; done
        systemctl_ reload-or-restart "$WEB_UNIT.service"
    else
        systemctl_ enable --now "$WEB_UNIT.service" "${workers[@]}"
    fi
    systemctl_ reload-or-restart nginx
    note "running: $WEB_UNIT.service ${workers[*]}, nginx"
fi

step "Done: $PUBLIC_BASE_URL"
if ((UPGRADE)); then
    note "upgraded; the backup taken first is in $BACKUP_DIR"
else
    note "next: the first day (deploy/README.md): sudo consular network import $ETC_DIR/network.yaml,"
    note "the first admin (sudo consular users create admin --role admin), Twilio's webhook."
fi
