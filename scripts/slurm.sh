#!/usr/bin/env bash
# Start (or stop) a real one-node Slurm cluster on this machine, for testing the harness's Slurm
# back end without a real cluster.
#
#   bash scripts/slurm.sh [start]   install slurm-wlm + munge if missing, write /etc/slurm/slurm.conf,
#                                   start munged, slurmctld and slurmd, wait until the node is usable
#   bash scripts/slurm.sh stop      stop the three daemons
#   bash scripts/slurm.sh status    print the one-line summary if the cluster is up (exit 1 if not)
#
# Safe to run again: when the cluster is already up, `start` only prints the summary line.
#
# Written for Debian 12 (slurm-wlm 22.05, munge 0.5.15) in a container: run as root, no systemd
# (the daemons are started directly, not via systemctl), cgroup v1 without systemd (so the cgroup
# proctrack/task plugins are avoided: processes are tracked by /proc and not confined).
# Jobs run as the submitting user; a test cluster only — no accounting, no security hardening.
set -euo pipefail
shopt -s inherit_errexit

readonly CONF_DIR=/etc/slurm
readonly CONF=$CONF_DIR/slurm.conf
readonly LOG_DIR=/var/log/slurm
readonly CTLD_STATE=/var/spool/slurmctld
readonly SLURMD_SPOOL=/var/spool/slurmd
readonly CTLD_PID=/run/slurmctld.pid
readonly SLURMD_PID=/run/slurmd.pid
readonly MUNGE_KEY=/etc/munge/munge.key
readonly MUNGE_PID=/run/munge/munged.pid
readonly PARTITION=debug
readonly WAIT_S=60 # how long to wait for the node to become usable

die() {
  echo "slurm.sh: error: $*" >&2
  exit 1
}

# Print the last lines of a log file to stderr (used before dying, to show why a daemon failed).
show_log() {
  local f=$1
  if [[ -s $f ]]; then
    echo "---- last lines of $f ----" >&2
    tail -n 25 "$f" >&2
    echo "----" >&2
  else
    echo "(no log at $f)" >&2
  fi
}

# The node name Slurm expects: slurmd identifies itself by the short host name (what `slurmd -C`
# prints as NodeName), so the config must use exactly that.
node_name() { hostname -s; }

# ---------------------------------------------------------------------------------------------
# Packages
# ---------------------------------------------------------------------------------------------

# apt-get install, waiting for the dpkg lock (another process may be installing at the same time).
# Only if that fails (e.g. stale package lists: "Unable to locate package") refresh the lists and
# try once more. Output goes to a log that is shown on failure.
apt_install() {
  local log
  log=$(mktemp /tmp/slurm-apt.XXXXXX.log)
  export DEBIAN_FRONTEND=noninteractive
  local -a apt=(apt-get -o DPkg::Lock::Timeout=600 -y -qq)
  if ! "${apt[@]}" install "$@" >"$log" 2>&1; then
    echo "slurm.sh: apt-get install failed; refreshing the package lists and retrying" >&2
    if ! { "${apt[@]}" update && "${apt[@]}" install "$@"; } >>"$log" 2>&1; then
      show_log "$log"
      die "could not install $*"
    fi
  fi
  rm -f "$log"
}

install_packages() {
  local -a missing=()
  command -v munged >/dev/null || missing+=(munge)
  if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sinfo >/dev/null; then
    missing+=(slurm-wlm) # pulls in slurmctld, slurmd and slurm-client
  fi
  ((${#missing[@]})) || return 0
  echo "slurm.sh: installing ${missing[*]} (apt)..."
  # Keep the packages' maintainer scripts from starting the services themselves (munge's init
  # script would start munged; slurm's would fail without a config): this script starts them with
  # its own settings. policy-rc.d exiting 101 is Debian's standard way to say "don't start services";
  # Docker images usually ship one already — then leave it alone, else add one just for the install.
  local made_policy=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# temporary, from harness scripts/slurm.sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt_install "${missing[@]}"
  if [[ -n $made_policy ]]; then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
}

# ---------------------------------------------------------------------------------------------
# Daemon bookkeeping: a daemon is "running" if the pid in its pid file is alive (not a zombie)
# and is that program; failing that, if a live process with exactly that name exists (e.g. one
# started by hand, or whose pid file was lost).
# ---------------------------------------------------------------------------------------------

# is_live PID NAME: the process exists, runs NAME and is not a zombie (a killed daemon can linger
# as a zombie for a moment when nothing reaps it promptly).
is_live() {
  local pid=$1 name=$2 info stat comm
  info=$(ps -p "$pid" -o stat=,comm= 2>/dev/null) || return 1
  read -r stat comm <<<"$info"
  [[ $comm == "$name" && $stat != Z* ]]
}

# daemon_pid NAME PIDFILE: print the daemon's pid, or nothing (and status 1) when not running.
daemon_pid() {
  local name=$1 pidfile=$2 pid
  if [[ -r $pidfile ]]; then
    pid=$(tr -dc '0-9' <"$pidfile")
    if [[ -n $pid ]] && is_live "$pid" "$name"; then
      echo "$pid"
      return 0
    fi
  fi
  for pid in $(pgrep -x "$name" || true); do
    if is_live "$pid" "$name"; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

# stop_daemon NAME PIDFILE: SIGTERM the daemon by pid, wait up to 15 s, then SIGKILL.
stop_daemon() {
  local name=$1 pidfile=$2 pid i
  pid=$(daemon_pid "$name" "$pidfile") || true
  if [[ -z $pid ]]; then
    return 0
  fi
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do
    is_live "$pid" "$name" || break
    sleep 0.5
  done
  if is_live "$pid" "$name"; then
    echo "slurm.sh: $name (pid $pid) did not exit on SIGTERM; killing it" >&2
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  echo "slurm.sh: stopped $name (pid $pid)"
}

# ---------------------------------------------------------------------------------------------
# Munge (authentication between the Slurm daemons and commands)
# ---------------------------------------------------------------------------------------------

# Starts daemon $1 (slurmctld or slurmd, which fork into the background) unless its pid file $2
# names a live one; on failure shows its logs and stops the script.
start_daemon() {
  local name=$1 pidfile=$2
  [[ -n $(daemon_pid "$name" "$pidfile") ]] && return 0
  if ! "$name" >>"$LOG_DIR/$name.start.log" 2>&1; then
    show_log "$LOG_DIR/$name.start.log"
    show_log "$LOG_DIR/$name.log"
    die "$name failed to start"
  fi
  echo "slurm.sh: started $name"
}

start_munge() {
  # Directories munged insists on: owned by munge and not writable by others.
  install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge
  install -d -o munge -g munge -m 0700 /var/log/munge
  install -d -o munge -g munge -m 0755 /run/munge
  # The shared secret. The Debian package normally creates it; make one if it is absent.
  if [[ ! -s $MUNGE_KEY ]]; then
    if command -v mungekey >/dev/null; then
      mungekey --create --keyfile="$MUNGE_KEY" --force
    else
      dd if=/dev/urandom of="$MUNGE_KEY" bs=1 count=1024 status=none
    fi
  fi
  chown munge:munge "$MUNGE_KEY"
  chmod 0400 "$MUNGE_KEY"

  if [[ -z $(daemon_pid munged "$MUNGE_PID") ]]; then
    # A stale socket from an unclean stop would make munged refuse to start.
    rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
    # Run as the munge user (the key's owner), as the Debian init script does.
    if ! runuser -u munge -- /usr/sbin/munged >/dev/null 2>&1; then
      show_log /var/log/munge/munged.log
      die "munged failed to start"
    fi
    echo "slurm.sh: started munged"
  fi
  # Check that a credential round-trips through the daemon.
  local i
  for ((i = 0; i < 20; i++)); do
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  show_log /var/log/munge/munged.log
  die "munge is running but 'munge -n | unmunge' fails"
}

# ---------------------------------------------------------------------------------------------
# Slurm configuration
# ---------------------------------------------------------------------------------------------

# RealMemory for the node: available memory minus headroom (10%, at least 256 MB), rounded down
# to 256 MB. It must not exceed what slurmd detects, or the node would be marked invalid. (With
# CR_Core memory is not a consumable resource; it only bounds what a job may ask for with --mem.)
real_memory_mb() {
  local avail_mb headroom mem_mb
  avail_mb=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
  headroom=$((avail_mb / 10))
  ((headroom >= 256)) || headroom=256
  mem_mb=$(((avail_mb - headroom) / 256 * 256))
  ((mem_mb >= 256)) || mem_mb=256
  echo "$mem_mb"
}

# Write the config for this machine to stdout; $1 is RealMemory in MB.
render_conf() {
  local node cpus mem_mb=$1
  node=$(node_name)
  cpus=$(nproc)
  cat <<EOF
# Written by harness scripts/slurm.sh: a one-node test cluster on localhost. Rewritten on start.
ClusterName=localcluster
SlurmctldHost=$node(127.0.0.1)
# Daemons run as root: this is a local test cluster, and root avoids permission trouble with the
# spool/state directories (and lets slurmd start jobs as any user).
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# No mail on this machine; without this slurmctld logs "Configured MailProg is invalid".
MailProg=/bin/true
# No systemd and cgroup v1 here: track job processes through /proc, confine nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# Schedule individual cores, so several 1-CPU jobs (e.g. array tasks) share the node.
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# A node that went DOWN (e.g. slurmd restarted) comes back by itself when it registers again.
ReturnToService=2
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$CTLD_STATE
SlurmdSpoolDir=$SLURMD_SPOOL
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# Quick turnaround for tests.
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
MinJobAge=300
KillWait=10
Waittime=0

NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
}

# Install the config; print "changed" if it differs from what was there.
write_conf() {
  local tmp
  install -d -m 0755 "$CONF_DIR"
  # Free memory drifts (other work on the machine), so a config this script wrote earlier keeps
  # its RealMemory while that is within 20% of the current figure; otherwise every start after a
  # stop would see a "changed" config.
  local mem old_mem
  mem=$(real_memory_mb)
  if [[ -f $CONF ]] && grep -q '^# Written by harness scripts/slurm.sh' "$CONF"; then
    old_mem=$(sed -n 's/^NodeName=.* RealMemory=\([0-9]*\).*/\1/p' "$CONF" | head -n 1)
    if [[ -n $old_mem ]] && ((old_mem * 5 >= mem * 4 && old_mem * 5 <= mem * 6)); then
      mem=$old_mem
    fi
  fi
  tmp=$(mktemp "$CONF_DIR/.slurm.conf.XXXXXX")
  render_conf "$mem" >"$tmp"
  chmod 0644 "$tmp"
  if [[ -f $CONF ]] && cmp -s "$tmp" "$CONF"; then
    rm -f "$tmp"
    return 0
  fi
  # Keep a copy of a config that this script did not write.
  if [[ -f $CONF ]] && ! grep -q '^# Written by harness scripts/slurm.sh' "$CONF"; then
    cp -p "$CONF" "$CONF.orig.$(date +%Y%m%d%H%M%S)"
  fi
  mv -f "$tmp" "$CONF"
  echo changed
}

# ---------------------------------------------------------------------------------------------
# Cluster state
# ---------------------------------------------------------------------------------------------

# The node's state as sinfo reports it (e.g. idle, mixed, alloc, down*, drain), or nothing.
node_state() {
  sinfo -h -n "$(node_name)" -o '%T' 2>/dev/null | head -n 1
}

ctld_up() { scontrol ping 2>/dev/null | grep -q 'is UP'; }

# True when the three daemons run and the node can take jobs.
cluster_up() {
  [[ -n $(daemon_pid munged "$MUNGE_PID") ]] || return 1
  [[ -n $(daemon_pid slurmctld "$CTLD_PID") ]] || return 1
  [[ -n $(daemon_pid slurmd "$SLURMD_PID") ]] || return 1
  ctld_up || return 1
  # slurmd answers (the controller only notices a dead slurmd after SlurmdTimeout).
  scontrol show slurmd >/dev/null 2>&1 || return 1
  case $(node_state) in
    idle* | mix* | alloc* | comp*) return 0 ;;
    *) return 1 ;;
  esac
}

summary() {
  local node cpus
  node=$(node_name)
  cpus=$(sinfo -h -n "$node" -o '%c' 2>/dev/null | head -n 1)
  echo "slurm: one-node cluster up (node $node, ${cpus:-?} CPUs, partition $PARTITION)"
}

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------

do_start() {
  [[ $(id -u) == 0 ]] || die "must run as root (installs packages, writes /etc/slurm, starts daemons)"
  if ps -p 1 -o comm= 2>/dev/null | grep -qx systemd; then
    echo "slurm.sh: note: systemd is running; starting the daemons directly anyway" >&2
  fi

  install_packages

  # Already up? Then there is nothing to do.
  if cluster_up; then
    summary
    return 0
  fi

  install -d -m 0755 "$LOG_DIR" "$SLURMD_SPOOL"
  install -d -m 0700 "$CTLD_STATE"

  # A new or changed config means daemons that are still running have the old one: restart them.
  if [[ -n $(write_conf) ]]; then
    stop_daemon slurmd "$SLURMD_PID"
    stop_daemon slurmctld "$CTLD_PID"
  fi

  start_munge

  local i
  start_daemon slurmctld "$CTLD_PID"
  for ((i = 0; i < 30; i++)); do
    ctld_up && break
    if [[ -z $(daemon_pid slurmctld "$CTLD_PID") ]]; then
      show_log "$LOG_DIR/slurmctld.log"
      die "slurmctld exited right after starting"
    fi
    sleep 1
  done
  if ! ctld_up; then
    show_log "$LOG_DIR/slurmctld.log"
    die "slurmctld does not answer 'scontrol ping'"
  fi

  start_daemon slurmd "$SLURMD_PID"

  # Wait for the node to register and become schedulable. A node left DOWN or DRAINED by an
  # earlier run (unclean stop, config change) is resumed.
  local state resumed=
  for ((i = 0; i < WAIT_S; i++)); do
    state=$(node_state)
    case $state in
      idle* | mix* | alloc* | comp*)
        summary
        return 0
        ;;
      down* | drain* | fail*)
        if [[ -z $resumed ]] || ((i % 10 == 0)); then
          echo "slurm.sh: node $(node_name) is '$state'; resuming it"
          scontrol update nodename="$(node_name)" state=resume 2>/dev/null || true
          resumed=1
        fi
        ;;
    esac
    if [[ -z $(daemon_pid slurmd "$SLURMD_PID") ]]; then
      show_log "$LOG_DIR/slurmd.log"
      die "slurmd exited after starting"
    fi
    sleep 1
  done
  sinfo -N -l >&2 || true
  scontrol show node "$(node_name)" >&2 || true
  show_log "$LOG_DIR/slurmd.log"
  show_log "$LOG_DIR/slurmctld.log"
  die "node $(node_name) is not usable after ${WAIT_S}s (state: '${state:-unknown}')"
}

do_stop() {
  [[ $(id -u) == 0 ]] || die "must run as root"
  stop_daemon slurmd "$SLURMD_PID"
  stop_daemon slurmctld "$CTLD_PID"
  stop_daemon munged "$MUNGE_PID"
}

do_status() {
  if command -v sinfo >/dev/null && cluster_up; then
    summary
  else
    echo "slurm: cluster not up"
    return 1
  fi
}

case ${1:-start} in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  -h | --help | help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "usage: $0 [start|stop|status]" ;;
esac
