#!/usr/bin/env bash
# Start (or stop) a local PostgreSQL server for the harness, from Debian's `postgresql` package.
#
# Usage: scripts/postgres.sh [start|stop|status]      (default: start)
#
# `start` is safe to run any number of times. It
#   1. installs the `postgresql` package if the server binaries are missing,
#   2. makes sure the Debian cluster <version>/main exists,
#   3. configures it to listen on 127.0.0.1 only, on $HARNESS_PG_PORT (default 5432), to hash
#      passwords with SCRAM-SHA-256 and to accept TCP logins from 127.0.0.1 only with a
#      SCRAM password,
#   4. starts it with pg_ctlcluster (no systemd needed; restarts it if a setting that needs a
#      restart changed, reloads it if only pg_hba.conf or password_encryption changed),
#   5. creates the role `harness` (LOGIN, random password) and the databases `harness` and
#      `harness_test` owned by it (tests create and drop their own schemas in harness_test),
#   6. keeps the password in a libpq password file, ${HARNESS_PG_PASSFILE:-~/.harness/pgpass}
#      (mode 0600, folder 0700), reusing the password already there on later runs,
#   7. checks a real TCP login as `harness` with that file, then prints (on stdout, nothing else
#      goes there; progress notes go to stderr):
#        postgres: server up on 127.0.0.1:5432
#        export PGPASSFILE=/root/.harness/pgpass
#        export HARNESS_TEST_POSTGRES=postgres://harness@127.0.0.1:5432/harness_test
#      To take the variables into the current shell:
#        eval "$(scripts/postgres.sh | grep '^export ')"
# The password itself is never printed, never put on a command line and never in a URL: libpq
# finds it in the file that PGPASSFILE names.
#
# `stop` stops the cluster (its data stay); `status` shows pg_lsclusters' line for it.
#
# Environment:
#   HARNESS_PG_PORT      TCP port (default 5432)
#   HARNESS_PG_PASSFILE  the libpq password file (default ~/.harness/pgpass)
#   HARNESS_PG_VERSION   the PostgreSQL major version to use (default: the newest installed)
#
# Needs root, or sudo, for apt-get, pg_createcluster, pg_ctlcluster and the configuration in
# /etc/postgresql; the password file is written as the user who runs the script.
set -euo pipefail

CMD="${1:-start}"
PORT="${HARNESS_PG_PORT:-5432}"
PASSFILE="${HARNESS_PG_PASSFILE:-$HOME/.harness/pgpass}"
CLUSTER=main
ROLE=harness
DATABASES=(harness harness_test)
HOST=127.0.0.1

die() { echo "error: $*" >&2; exit 1; }
note() { echo "postgres: $*" >&2; }

if ! [[ "$PORT" =~ ^[0-9]+$ ]] || (( PORT < 1 || PORT > 65535 )); then
  die "HARNESS_PG_PORT must be a TCP port number, not '$PORT'"
fi
# libpq wants an absolute path in PGPASSFILE to be usable from any directory.
[[ "$PASSFILE" == /* ]] || PASSFILE="$PWD/$PASSFILE"

# Privileged commands go through `as_root`; the server's own tools (psql as the superuser over
# the Unix socket, with peer authentication) through `as_postgres`.
if [[ $(id -u) == 0 ]]; then
  as_root() { "$@"; }
  as_postgres() { runuser -u postgres -- "$@"; }
elif command -v sudo >/dev/null; then
  as_root() { sudo -- "$@"; }
  as_postgres() { sudo -u postgres -- "$@"; }
else
  die "run this script as root (or install sudo): it installs and configures the PostgreSQL server"
fi

# The newest installed server version (Debian installs each under /usr/lib/postgresql/<ver>),
# unless HARNESS_PG_VERSION names one. Prints nothing if no server is installed.
server_version() {
  if [[ -n "${HARNESS_PG_VERSION:-}" ]]; then
    [[ -x /usr/lib/postgresql/$HARNESS_PG_VERSION/bin/postgres ]] && echo "$HARNESS_PG_VERSION"
    return 0
  fi
  local bin
  for bin in /usr/lib/postgresql/*/bin/postgres; do
    [[ -x "$bin" ]] && basename "$(dirname "$(dirname "$bin")")"
  done | sort -n | tail -1
}

# pg_lsclusters' line for VER/main: "ver cluster port status owner datadir logfile", or nothing.
cluster_line() {
  command -v pg_lsclusters >/dev/null || return 0
  pg_lsclusters -h 2>/dev/null | awk -v v="$VER" -v c="$CLUSTER" '$1 == v && $2 == c'
}
cluster_status() { cluster_line | awk '{print $4}'; }   # online, down, online,recovery, ...

# Print the end of the server log, to show why a start or a stop failed.
show_log() {
  local log
  log=$(cluster_line | awk '{print $7}')
  [[ -n "$log" && "$log" != "<unknown>" ]] || log="/var/log/postgresql/postgresql-$VER-$CLUSTER.log"
  echo "--- last lines of $log ---" >&2
  as_root tail -n 30 "$log" >&2 || echo "(cannot read $log)" >&2
  echo "---" >&2
}

# -- stop / status ---------------------------------------------------------------------------
if [[ "$CMD" == stop || "$CMD" == status ]]; then
  VER=$(server_version)
  if [[ -z "$VER" || -z "$(cluster_line)" ]]; then
    note "no PostgreSQL cluster is set up (run: $0 start)"
    exit 0
  fi
  if [[ "$CMD" == status ]]; then
    pg_lsclusters "$VER" "$CLUSTER"
    exit 0
  fi
  if [[ "$(cluster_status)" == down ]]; then
    note "cluster $VER/$CLUSTER is already stopped"
    exit 0
  fi
  as_root pg_ctlcluster "$VER" "$CLUSTER" stop || { show_log; die "could not stop cluster $VER/$CLUSTER"; }
  note "cluster $VER/$CLUSTER stopped"
  exit 0
fi
[[ "$CMD" == start ]] || die "unknown command '$CMD' (usage: $0 [start|stop|status])"

# -- 1. install the server -------------------------------------------------------------------
# The lock timeout makes apt-get wait for another apt/dpkg run instead of failing at once. The
# package lists are refreshed only if the first try fails (they are often fresh enough).
# apt's chatter goes to stderr so that stdout carries only the lines printed at the end.
VER=$(server_version)
if [[ -z "$VER" ]] || ! command -v pg_ctlcluster >/dev/null; then
  note "installing the postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq postgresql >&2; }
  if ! apt_install; then
    note "install failed; refreshing the package lists and trying again"
    as_root apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || die "apt-get update failed"
    apt_install || die "could not install the postgresql package"
  fi
  VER=$(server_version)
  [[ -n "$VER" ]] || die "postgresql is installed but no server binary was found under /usr/lib/postgresql"
fi

# -- 2. the cluster --------------------------------------------------------------------------
# Installing the package usually creates <ver>/main already; create it if it is not there.
# (pg_createcluster does not start it.)
if [[ -z "$(cluster_line)" ]]; then
  note "creating cluster $VER/$CLUSTER on port $PORT"
  as_root pg_createcluster -p "$PORT" "$VER" "$CLUSTER" >&2 || die "pg_createcluster $VER $CLUSTER failed"
fi
CONFDIR="/etc/postgresql/$VER/$CLUSTER"
WAS_ONLINE=0
[[ "$(cluster_status)" == online* ]] && WAS_ONLINE=1

# -- 3. configuration ------------------------------------------------------------------------
# Our settings live in their own file, conf.d/harness.conf, which Debian's postgresql.conf
# includes last, so it wins over postgresql.conf, and Debian's tools (pg_lsclusters,
# pg_ctlcluster) read it too and so know the port. (Not pg_conftool: it writes 127.0.0.1
# unquoted, which the server rejects as a syntax error.) The file is rewritten only when it
# differs, and we note whether a running server must be restarted (listen_addresses, port) or
# only reloaded (password_encryption, pg_hba.conf).
NEED_RESTART=0
NEED_RELOAD=0
CONF="$CONFDIR/conf.d/harness.conf"
WANT_CONF="# Written by the harness's scripts/postgres.sh, which rewrites it on every start.
listen_addresses = '$HOST'              # loopback only: never reachable from the network
port = $PORT
password_encryption = 'scram-sha-256'   # how ALTER ROLE ... PASSWORD stores the password"
OLD_CONF=$(as_root cat "$CONF" 2>/dev/null || true)
if [[ "$OLD_CONF" != "$WANT_CONF" ]]; then
  tmp=$(mktemp)
  printf '%s\n' "$WANT_CONF" > "$tmp"
  as_root install -D -o postgres -g postgres -m 644 "$tmp" "$CONF"
  rm -f "$tmp"
  restart_keys() { grep -E '^(listen_addresses|port) ' || true; }
  if [[ "$(restart_keys <<< "$OLD_CONF")" != "$(restart_keys <<< "$WANT_CONF")" ]]; then
    NEED_RESTART=1
  else
    NEED_RELOAD=1
  fi
fi

# pg_hba.conf: the first line that matches a connection decides, so our TCP rule goes at the top
# (an earlier `trust` or `md5` line for 127.0.0.1 would otherwise win). Debian's defaults below it
# stay: `local ... peer` is what lets this script administer the server as `postgres`.
HBA="$CONFDIR/pg_hba.conf"
HBA_LINE="host    all             all             $HOST/32            scram-sha-256"
# shellcheck disable=SC2016  # $1... are awk's fields
if ! as_root awk 'NF && $1 !~ /^#/ { print $1, $2, $3, $4, $5; exit }' "$HBA" \
    | grep -qx "host all all $HOST/32 scram-sha-256"; then
  tmp=$(mktemp)
  { echo "# harness (scripts/postgres.sh): TCP logins from loopback only, with a SCRAM password"
    echo "$HBA_LINE"
    as_root cat "$HBA"; } > "$tmp"
  as_root install -o postgres -g postgres -m 640 "$tmp" "$HBA"
  rm -f "$tmp"
  NEED_RELOAD=1
fi

# -- 4. start --------------------------------------------------------------------------------
# pg_ctlcluster runs the server as the cluster's owner and waits until it accepts connections.
# There is no systemd here, so it starts postgres directly (pg_ctl) rather than through a unit.
if (( WAS_ONLINE == 0 )); then
  note "starting cluster $VER/$CLUSTER"
  as_root pg_ctlcluster "$VER" "$CLUSTER" start >&2 || { show_log; die "could not start cluster $VER/$CLUSTER"; }
elif (( NEED_RESTART )); then
  note "restarting cluster $VER/$CLUSTER to apply the new listen address / port"
  as_root pg_ctlcluster "$VER" "$CLUSTER" restart >&2 || { show_log; die "could not restart cluster $VER/$CLUSTER"; }
elif (( NEED_RELOAD )); then
  as_root pg_ctlcluster "$VER" "$CLUSTER" reload >&2 || { show_log; die "could not reload cluster $VER/$CLUSTER"; }
fi
pg_isready -q -h "$HOST" -p "$PORT" -t 30 \
  || { show_log; die "the server does not accept TCP connections on $HOST:$PORT"; }

# Superuser SQL over the Unix socket (peer authentication as the OS user `postgres`).
admin_psql() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PORT" -d postgres "$@"; }

# postgresql.auto.conf (ALTER SYSTEM) or a later file in conf.d can override ours: check what
# the server actually uses.
actual=$(admin_psql -At -c "SELECT current_setting('listen_addresses') || ' ' || current_setting('password_encryption')") \
  || { show_log; die "cannot connect to the server as postgres over the Unix socket"; }
[[ "$actual" == "$HOST scram-sha-256" ]] \
  || die "the server runs with listen_addresses/password_encryption = '$actual', not '$HOST scram-sha-256' (overridden in postgresql.auto.conf or a later file in $CONFDIR/conf.d? else try: $0 stop; $0 start)"

# -- 5. the password file --------------------------------------------------------------------
# Standard .pgpass lines: host:port:database:user:password. Reuse the password of the first line
# for user harness on this host and port (any database); else that of any harness line (another
# port); else make a new one. Only the password we generate is known to be safe to embed in SQL,
# so a reused one must not hold ' \ : or spaces.
umask 077
PASSDIR=$(dirname "$PASSFILE")
if [[ ! -d "$PASSDIR" ]]; then
  # shellcheck disable=SC2174  # 0700 is meant for the file's own folder; parents get the umask
  mkdir -p -m 700 "$PASSDIR"
elif [[ "$PASSDIR" == "$HOME/.harness" ]]; then
  chmod 700 "$PASSDIR"   # only our own folder: never tighten a shared one such as /tmp
fi
PASSWORD=""
if [[ -f "$PASSFILE" ]]; then
  PASSWORD=$(awk -F: -v h="$HOST" -v p="$PORT" -v u="$ROLE" \
    '($1 == h || $1 == "*") && ($2 == p || $2 == "*") && $3 == "*" && $4 == u { print $5; exit }' "$PASSFILE")
  [[ -n "$PASSWORD" ]] || PASSWORD=$(awk -F: -v u="$ROLE" '$4 == u && $5 != "" { print $5; exit }' "$PASSFILE")
fi
if [[ -z "$PASSWORD" ]]; then
  PASSWORD=$(openssl rand -hex 16 2>/dev/null || od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  [[ ${#PASSWORD} == 32 ]] || die "could not generate a password"
  note "generated a new password for role $ROLE in $PASSFILE"
fi
[[ "$PASSWORD" =~ ^[A-Za-z0-9._~+/=@!%^*-]+$ ]] \
  || die "the password for $ROLE in $PASSFILE has characters this script does not handle (' \\ : or spaces); remove that line to get a new one"
# Add the line for this host and port unless the file already has it (other lines are kept).
if ! { [[ -f "$PASSFILE" ]] && grep -qxF "$HOST:$PORT:*:$ROLE:$PASSWORD" "$PASSFILE"; }; then
  echo "$HOST:$PORT:*:$ROLE:$PASSWORD" >> "$PASSFILE"
fi
chmod 600 "$PASSFILE"   # libpq ignores a password file that group or others can read

# -- 6. role and databases -------------------------------------------------------------------
# The SQL goes in on stdin, so the password is on no command line (ps); statement logging is
# switched off for this session so it does not land in the server log either. The role's
# password is set on every run, which keeps it equal to the file's. CREATE DATABASE cannot run
# inside a DO block, hence the \gexec form for "create if absent".
admin_psql <<SQL || die "could not create the role $ROLE or its databases"
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SELECT 'CREATE ROLE $ROLE LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') \gexec
ALTER ROLE $ROLE WITH LOGIN PASSWORD '$PASSWORD';
$(for db in "${DATABASES[@]}"; do
  echo "SELECT 'CREATE DATABASE $db OWNER $ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db') \\gexec"
  echo "ALTER DATABASE $db OWNER TO $ROLE;"
done)
SQL

# -- 7. check and print ----------------------------------------------------------------------
# A real login over TCP with the file, as the harness and its tests will do it.
for db in "${DATABASES[@]}"; do
  PGPASSFILE="$PASSFILE" PGCONNECT_TIMEOUT=10 psql -X -q -At -w -h "$HOST" -p "$PORT" -U "$ROLE" -d "$db" \
    -c 'SELECT 1' >/dev/null \
    || die "cannot log in as $ROLE to $db over TCP with the password in $PASSFILE"
done
echo "postgres: server up on $HOST:$PORT"
echo "export PGPASSFILE=$(printf %q "$PASSFILE")"
echo "export HARNESS_TEST_POSTGRES=postgres://$ROLE@$HOST:$PORT/harness_test"
