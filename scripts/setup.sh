#!/usr/bin/env bash
# Set up everything the demo and the tests need on a fresh Debian 12 machine. Idempotent.
#   - OS packages (as root, only when missing): nginx, Debian's python3 with its own
#     cryptography/pyOpenSSL (what a cache node has), venv support, sshd and iproute2,
#     cfssl (a responder not written here), promtool (package prometheus; rule tests) and
#     haproxy 2.6 (the second TLS server; the system service is stopped).
#   - .venv     : the newest Python on the machine, pinned requirements-dev.txt (ansible-core 2.21).
#   - .venv311  : Python 3.11, pinned requirements.txt + pytest (ansible-core 2.19).
#   - .venv-node: Debian's /usr/bin/python3 with system site-packages + pytest only, so
#                 the core is tested against the distribution's python3-cryptography.
#   - .venv-sanity: the newest Python, pinned requirements-sanity.txt (ansible-core 2.21 with
#                 ansible-test's sanity requirements: make sanity runs ansible-test offline).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"

log() { printf 'setup: %s\n' "$*" >&2; }

os_packages() {
  local need=()
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
  /usr/bin/python3 -c 'import cryptography, OpenSSL, yaml' 2>/dev/null || need+=(python3-cryptography python3-openssl python3-yaml)
  /usr/bin/python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
  [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  command -v ip >/dev/null 2>&1 || need+=(iproute2)
  command -v openssl >/dev/null 2>&1 || need+=(openssl)
  command -v cfssl >/dev/null 2>&1 || need+=(golang-cfssl)  # cfssl ocspserve: a responder not written here
  command -v promtool >/dev/null 2>&1 || need+=(prometheus)  # promtool: the alert rules' unit tests
  [ -x /usr/sbin/haproxy ] || need+=(haproxy)  # haproxy 2.6: the second TLS server (tests run their own)
  if [ ${#need[@]} -eq 0 ]; then return 0; fi
  if [ "$(id -u)" != 0 ]; then
    log "missing OS packages ${need[*]} and not root: install them with apt-get and re-run"; exit 1
  fi
  log "installing OS packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The nginx package starts a system nginx on port 80; the project runs its own instances.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
  if [ -f /run/nginx.pid ]; then /usr/sbin/nginx -s quit >/dev/null 2>&1 || true; fi
  # The prometheus package is installed for promtool only: no server of its own either.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
  if [ -x /etc/init.d/prometheus ]; then /etc/init.d/prometheus stop >/dev/null 2>&1 || true; fi
  # Likewise haproxy: the tests start their own instances on 127.0.0.1, never the system service.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now haproxy >/dev/null 2>&1 || true; fi
  if [ -x /etc/init.d/haproxy ]; then /etc/init.d/haproxy stop >/dev/null 2>&1 || true; fi
}

newest_python() {
  local root best=""
  if command -v pyenv >/dev/null 2>&1; then
    root="$(pyenv root)"
    for v in $(ls "$root/versions" 2>/dev/null | grep -E '^3\.[0-9]+\.[0-9]+$' | sort -V); do
      case "$v" in 3.1[2-9].*) best="$root/versions/$v/bin/python3";; esac
    done
  fi
  if [ -z "$best" ]; then
    for c in python3.14 python3.13 python3.12; do command -v "$c" >/dev/null 2>&1 && { best="$(command -v "$c")"; break; }; done
  fi
  echo "${best:-python3}"
}

python311() {
  if command -v pyenv >/dev/null 2>&1; then
    local v; v="$(ls "$(pyenv root)/versions" 2>/dev/null | grep -E '^3\.11\.[0-9]+$' | sort -V | tail -1)"
    [ -n "$v" ] && { echo "$(pyenv root)/versions/$v/bin/python3"; return; }
  fi
  echo /usr/bin/python3
}

pip_install() {  # dir pip-args...: quiet unless it fails, then show pip's own words
  local dir="$1"; shift
  if ! "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@" >"$dir/pip.log" 2>&1; then
    grep -v '^WARNING: Location' "$dir/pip.log" >&2
    log "$dir: pip install $* failed (log: $dir/pip.log)"; exit 1
  fi
}

make_venv() {  # dir python requirements...
  local dir="$1" py="$2"; shift 2
  local stamp="$dir/.stamp" want
  want="$(cat "$@" requirements.txt pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  if [ ! -x "$dir/bin/python" ]; then
    log "creating $dir with $("$py" --version 2>&1)"
    "$py" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  else
    log "updating $dir to the pinned requirements"
  fi
  pip_install "$dir" "${@/#/-r}"
  pip_install "$dir" --no-deps -e .
  echo "$want" > "$stamp"
}

node_venv() {
  local dir=.venv-node stamp=.venv-node/.stamp want
  want="$(cat requirements-node.txt | sha256sum | cut -c1-16)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  log "creating $dir with Debian's /usr/bin/python3 and its python3-cryptography"
  [ -x "$dir/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$dir"
  pip_install "$dir" -rrequirements-node.txt
  echo "$want" > "$stamp"
}

case "$what" in
  os) os_packages ;;
  venv) make_venv .venv "$(newest_python)" requirements-dev.txt ;;
  sanity) make_venv .venv-sanity "$(newest_python)" requirements-sanity.txt ;;
  all)
    os_packages
    make_venv .venv "$(newest_python)" requirements-dev.txt
    make_venv .venv311 "$(python311)" requirements.txt requirements-node.txt
    node_venv
    make_venv .venv-sanity "$(newest_python)" requirements-sanity.txt
    ;;
  *) log "unknown target $what (os, venv, sanity, all)"; exit 2 ;;
esac
