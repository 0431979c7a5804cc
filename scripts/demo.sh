#!/usr/bin/env bash
# The local demo fleet: a demo PKI, the fault-injecting test responder on 127.0.0.1:8880,
# three nginx nodes on 127.0.0.1:8443-8445 and one HAProxy node on 127.0.0.1:8446 (server name
# www.demo.test), then site.yml, then what a TLS client sees on each node.  Usage: scripts/demo.sh start|show|check|stop
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
DEMO="$REPO/.tmp/demo"
PY="$REPO/.venv/bin/python"
RESPONDER_PORT="${DEMO_RESPONDER_PORT:-8880}"
export ANSIBLE_CONFIG="$REPO/ansible.cfg"
export PATH="$REPO/.venv/bin:$PATH"

say() { printf '\n== %s\n' "$*"; }

stop() {
  if [ -f "$DEMO/fleet/fleet.json" ]; then "$PY" -m testbed.fleet stop --root "$DEMO/fleet" || true; fi
  if [ -f "$DEMO/haproxy/haproxy-fleet.json" ]; then "$PY" -m testbed.haproxy stop --dir "$DEMO/haproxy" >/dev/null || true; fi
  "$PY" -m testbed.responder stop --root "$DEMO" || true
}

start_responder() {
  # Background process with a pid file; port from the PKI's OCSP URL; control file $DEMO/responder.json.
  "$PY" -m testbed.responder start --root "$DEMO" --pki "$DEMO/pki"
}

show() {
  for port in 8443 8444 8445 8446; do
    echo "-- $([ "$port" = 8446 ] && echo HAProxy || echo nginx) node on 127.0.0.1:$port (www.demo.test)"
    ocsp-staple show --connect "127.0.0.1:$port" --servername www.demo.test || true
  done
}

checks() {
  # The monitoring check the role installed on node1 (its NRPE command), and the store check on the central host.
  echo "-- $DEMO/fleet/node1/bin/ocsp-staple check --connect 127.0.0.1:8443 --servername www.demo.test --expect-file …"
  "$DEMO/fleet/node1/bin/ocsp-staple" check --connect 127.0.0.1:8443 --servername www.demo.test \
    --cert "$DEMO/fleet/node1/ssl/www.demo.test.pem" --expect-file "$DEMO/fleet/node1/ocsp/www.demo.test.der" || true
  echo "-- $DEMO/central/bin/ocsp-staple check --store $DEMO/store --certificates $DEMO/central/certificates.json"
  "$DEMO/central/bin/ocsp-staple" check --store "$DEMO/store" --certificates "$DEMO/central/certificates.json" || true
}

case "${1:-start}" in
  start)
    stop >/dev/null 2>&1 || true
    say "demo PKI in $DEMO/pki"
    "$PY" -m testbed.pki --dir "$DEMO/pki" --ocsp-url "http://127.0.0.1:$RESPONDER_PORT/"
    say "test responder on http://127.0.0.1:$RESPONDER_PORT/ (control file $DEMO/responder.json)"
    start_responder
    say "three nginx nodes on 127.0.0.1:8443-8445"
    "$PY" -m testbed.fleet start --root "$DEMO/fleet" --nodes 3 --base-port 8443 --pki "$DEMO/pki"
    say "one HAProxy node on 127.0.0.1:8446 (admin socket $DEMO/haproxy/haproxy1/admin.sock)"
    rm -rf "$DEMO/haproxy"
    "$PY" -m testbed.haproxy start --dir "$DEMO/haproxy" --nodes 1 --base-port 8446 --pki "$DEMO/pki" >/dev/null
    say "ansible-playbook -i inventories/demo site.yml"
    ansible-playbook -i inventories/demo site.yml
    say "what a TLS client sees"
    show
    say "the monitoring checks (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)"
    checks
    printf '\nStop everything with: make demo-stop\n'
    ;;
  show) show ;;
  check) checks ;;
  stop) stop ;;
  *) echo "usage: $0 start|show|check|stop" >&2; exit 2 ;;
esac
