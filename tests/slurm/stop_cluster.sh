#!/usr/bin/env bash
# Stop what tests/slurm/start_cluster.sh started (the daemons listed in STATE_DIR/started), by pid.
#
#   tests/slurm/stop_cluster.sh [STATE_DIR]      (default /tmp/ucf_nb_slurm)
set -uo pipefail
D="${1:-/tmp/ucf_nb_slurm}"
[ -f "$D/started" ] || exit 0
# cancel what is still queued or running, so that no job outlives its cluster
SLURM_CONF="$D/slurm.conf" scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
tac "$D/started" | while read -r name pid; do
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null && echo "$name ($pid) did not stop on SIGTERM: killed" >&2
done
rm -f "$D/started"
