#!/bin/bash
# Start one Galera node of docker-compose.ha.yml. The node named by GALERA_BOOTSTRAP=1 starts a new
# cluster when its data directory is new; any node whose grastate.dat says safe_to_bootstrap: 1
# (the last to stop cleanly after a whole-cluster stop) bootstraps again. Every other start joins.
# Recovering from a crash of every node is manual: docs/deployment-ha.md → Losing the whole cluster.
set -euo pipefail
sed "s/\${SST_PASSWORD}/${SST_PASSWORD:?set SST_PASSWORD}/" /etc/mysql/galera.cnf.in > /etc/mysql/conf.d/galera.cnf
state=/var/lib/mysql/grastate.dat
if { [ "${GALERA_BOOTSTRAP:-0}" = 1 ] && [ ! -e "$state" ]; } || grep -q 'safe_to_bootstrap: 1' "$state" 2>/dev/null; then
  exec docker-entrypoint.sh mariadbd --wsrep-new-cluster
fi
exec docker-entrypoint.sh mariadbd
