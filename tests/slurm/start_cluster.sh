#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine (Debian's slurm-wlm + munge), for the tests.
#
#   tests/slurm/start_cluster.sh [STATE_DIR]     (default /tmp/ucf_nb_slurm; needs root)
#
# Writes STATE_DIR/slurm.conf (this host, its CPUs and memory as `slurmd -C` reports them,
# one partition, no accounting: sacct has nothing, as on clusters without slurmdbd; KillWait=1:
# a cancelled task, which submitit lets ignore SIGTERM, is killed 1 s after scancel), starts
# munged (unless one already answers), slurmctld and slurmd, and waits until the node is idle.
# Clients find the cluster through `export SLURM_CONF=STATE_DIR/slurm.conf`, printed last.
# STATE_DIR/started lists what this script started; tests/slurm/stop_cluster.sh stops exactly that.
# Exit status 2, with one line saying why, when the cluster cannot be started here.
set -euo pipefail
D="${1:-/tmp/ucf_nb_slurm}"
die() { echo "cannot start a test SLURM cluster: $*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "slurmd must run as root (this is uid $(id -u))"
for exe in munged slurmctld slurmd sbatch squeue scontrol sinfo srun; do
    command -v "$exe" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin" command -v "$exe" >/dev/null 2>&1 \
        || die "$exe not found: apt-get install -y slurm-wlm munge (as .ci/run does)"
done
export PATH="$PATH:/usr/sbin"
mkdir -p "$D/state" "$D/spool"
: > "$D/started"

# munge: the authentication slurm's daemons and clients share
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    [ -s /etc/munge/munge.key ] || die "/etc/munge/munge.key is missing (reinstall munge)"
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge 2>/dev/null || true
    runuser -u munge -- munged --pid-file=/run/munge/munged.pid || die "munged did not start"
    echo "munged $(cat /run/munge/munged.pid)" >> "$D/started"
    for _ in $(seq 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi
munge -n </dev/null | unmunge >/dev/null 2>&1 || die "munged does not answer"

HOST="$(hostname -s)"
NODE="$(slurmd -C | head -n 1)"   # NodeName=... CPUs=... RealMemory=...
case "$NODE" in NodeName=*) ;; *) die "slurmd -C printed no node line: $NODE" ;; esac
cat > "$D/slurm.conf" <<CONF
# written by tests/slurm/start_cluster.sh: a one-node test cluster
ClusterName=ucfnb
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
SlurmctldPort=${UCF_NB_SLURMCTLD_PORT:-6817}
SlurmdPort=${UCF_NB_SLURMD_PORT:-6818}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
KillWait=1
MinJobAge=300
$NODE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$D/slurm.conf"

slurmctld -f "$SLURM_CONF" -c -i || die "slurmctld did not start (see $D/slurmctld.log)"
for _ in $(seq 50); do [ -s "$D/slurmctld.pid" ] && break; sleep 0.1; done
echo "slurmctld $(cat "$D/slurmctld.pid")" >> "$D/started"
slurmd -f "$SLURM_CONF" || die "slurmd did not start (see $D/slurmd.log)"
for _ in $(seq 50); do [ -s "$D/slurmd.pid" ] && break; sleep 0.1; done
echo "slurmd $(cat "$D/slurmd.pid")" >> "$D/started"

for _ in $(seq 150); do
    state="$(sinfo -h -n "$HOST" -o %t 2>/dev/null || true)"
    [ "$state" = idle ] && break
    sleep 0.2
done
[ "$state" = idle ] || die "node $HOST is '$state', not idle, after 30 s (see $D/slurmctld.log, $D/slurmd.log)"
echo "export SLURM_CONF=$SLURM_CONF"
