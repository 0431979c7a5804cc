#!/usr/bin/python
# Copyright: (c) 2026, ocsp-stapling maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module ocsp_served_info: what a TLS client is stapled, compared with the deployed file and judged."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ocsp_served_info
short_description: Check the OCSP staple a TLS endpoint serves against the deployed file and the policy
description:
  - Makes a real TLS handshake to O(host):O(port) with SNI O(server_name), requesting the OCSP
    staple (C(status_request)), and returns what was stapled - its SHA-256, the SHA-256 of the
    deployed staple O(expect_file), whether they are the same bytes, and the verdict of the
    project's validation policy (docs/PROBLEM_CODES.md) for the served staple.
  - The staple is validated against O(certificate) and O(issuer), the node's own files, B(not)
    against the chain the server sends. The files are the reference - the same ones M(ocsp.stapling.ocsp_staple)
    validated the staple against before installing it. Validating against the served chain would
    let a node that still serves an old certificate (no reload after a renewal) or the wrong
    C(server {}) block pass with that block's staple, and would fail outright when nginx sends no
    intermediate. RV(certificate_matches) tells when the served leaf is not the one in O(certificate).
  - Fails the task, with one line naming the endpoint, the file and the problem, when O(expect_file)
    is given and the served bytes differ from it (nginx was not reloaded or the reload failed), when
    nothing is stapled although O(expect_file) exists, when something is stapled although
    O(expect_file) does not exist, and - with O(require_valid) - when the served staple is invalid
    or missing. Otherwise a bad staple is a result (RV(valid)=false with problem codes).
  - Runs on the node with its distribution's Python, C(cryptography) (36 or newer) and pyOpenSSL
    (23 or newer, C(python3-openssl) on Debian and Ubuntu). The TLS client does not verify the
    server certificate or its name; it only looks at the staple.
version_added: "0.1.0"
author: ocsp-stapling maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ocsp_staple
  - ocsp_staple.policy
options:
  host:
    description: Address or name to connect to (the node itself by default).
    type: str
    default: 127.0.0.1
  port:
    description: TCP port of the TLS service.
    type: int
    default: 443
  server_name:
    description:
      - SNI name sent in the handshake; selects the nginx C(server {}) block and thus the staple.
      - Without it nginx answers with its default server.
    type: str
  expect_file:
    description:
      - Path of the deployed staple file on the node (the C(ssl_stapling_file)). When given, the
        served bytes must be exactly its bytes.
    type: path
  name:
    description: Name used in messages (default O(server_name), else the leaf's subject).
    type: str
  timeout:
    description: Bound in seconds on the TCP connect and the whole TLS handshake.
    type: float
    default: 10.0
  require_valid:
    description: Also fail the task when no staple is served or the served staple fails the policy.
    type: bool
    default: false
  tolerate_stale:
    description:
      - When some endpoint serves other bytes than its O(expect_file) (nginx still holds an old
        configuration - an earlier reload failed or never ran), RV(stale) is true and the task does not
        fail; the caller tests and reloads nginx, then checks again without this option. Without a stale
        endpoint every failure fails the task as usual. The role's verify step uses it before a reload.
    type: bool
    default: false
  certificate:
    description:
      - PEM file of the leaf certificate on the target. It may hold the chain, issuer second.
      - Required unless O(checks) is given.
    type: path
    required: false
  checks:
    description:
      - Several endpoints in one module execution (the role checks every certificate of a node this
        way). Each entry takes O(server_name), O(port), O(expect_file), O(certificate), O(issuer),
        O(name) and its own O(assume_lifetime_without_next_update); O(host), O(timeout), O(min_remaining),
        O(clock_skew), O(assume_lifetime_without_next_update) (for entries without their own) and
        O(require_valid) apply to all.
      - The task fails when any check fails, naming every failure; RV(results) holds each result.
      - Mutually exclusive with a top-level O(certificate).
    type: list
    elements: dict
    suboptions:
      server_name:
        description: SNI name of this endpoint, as the top-level O(server_name).
        type: str
      port:
        description: TCP port of this endpoint; default the top-level O(port).
        type: int
      expect_file:
        description: The deployed staple file this endpoint must serve byte for byte, as the top-level O(expect_file).
        type: path
      certificate:
        description: PEM file of this endpoint's leaf certificate on the target. It may hold the chain, issuer second.
        type: path
        required: true
      issuer:
        description: PEM file of the issuer certificate, unless O(checks[].certificate) holds the chain.
        type: path
      name:
        description: Name used in messages (default O(checks[].server_name), else the leaf's subject).
        type: str
      assume_lifetime_without_next_update:
        description:
          - For this endpoint's staple, overrides the top-level O(assume_lifetime_without_next_update) (same
            meaning and format).
        type: str
attributes:
  check_mode:
    support: full
    description: The module changes nothing; it makes the same handshake and returns the same result in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
  idempotent:
    support: full
    description: Read-only; C(changed) is always false.
requirements:
  - cryptography >= 36.0 on the node
  - pyOpenSSL >= 23.0 on the node (Debian/Ubuntu package python3-openssl)
notes:
  - nginx reads C(ssl_stapling_file) only when it loads its configuration, and a failed reload keeps
    the old configuration and the old staple without a sound; comparing the served bytes with the
    file is how a deployment proves the reload took effect.
  - An endpoint that cannot be reached or fails the handshake fails the task with a one-line message.
seealso:
  - module: ocsp.stapling.ocsp_staple
  - module: ocsp.stapling.ocsp_response_info
"""

EXAMPLES = r"""
- name: Check that nginx serves the staple just deployed
  ocsp_served_info:
    host: 127.0.0.1
    port: 443
    server_name: www.example.org
    expect_file: /etc/nginx/ocsp/www.example.org.der
    certificate: /etc/ssl/www.example.org/fullchain.pem
    require_valid: true
  register: __ocsp_stapling_served

- name: Look at what a client is stapled, without failing on a bad staple
  ocsp_served_info:
    server_name: www.example.org
    certificate: /etc/ssl/www.example.org/cert.pem
    issuer: /etc/ssl/www.example.org/issuer.pem
    min_remaining: 12h
  register: __ocsp_stapling_seen
"""

RETURN = r"""
stale:
  description: True when some endpoint serves other bytes than its O(expect_file) (nginx must be tested and reloaded).
  returned: always
  type: bool
served:
  description: True when the server stapled a response.
  returned: always
  type: bool
served_sha256:
  description: SHA-256 of the served staple (hex); null when nothing was stapled.
  returned: always
  type: str
  sample: 1a2b3c4d5e6f...
file_sha256:
  description: SHA-256 of O(expect_file) (hex); null without O(expect_file) or when it does not exist.
  returned: always
  type: str
file_exists:
  description: Whether O(expect_file) exists; null without O(expect_file).
  returned: always
  type: bool
matches:
  description:
  - True when the served bytes are exactly the bytes of O(expect_file) (or nothing is served and the file does not
    exist); null without O(expect_file).
  returned: always
  type: bool
endpoint:
  description: The endpoint checked, C(host:port) (C([addr]:port) for IPv6).
  returned: always
  type: str
  sample: 127.0.0.1:443
server_name:
  description: The SNI name sent.
  returned: always
  type: str
protocol:
  description: The negotiated TLS version.
  returned: always
  type: str
  sample: TLSv1.3
served_certificate:
  description: Subject of the leaf certificate the server presented.
  returned: always
  type: str
certificate_matches:
  description: True when the served leaf is the leaf of O(certificate).
  returned: always
  type: bool
valid:
  description: True only when a staple was served and every check of the policy passed.
  returned: always
  type: bool
problems:
  description: Every problem the policy found in the served staple (empty when nothing was served).
  returned: always
  type: list
  elements: dict
  sample:
  - code: expired
    message: 'staple for www.example.org on 127.0.0.1:443: nextUpdate ...'
response_status:
  description: responseStatus of the served staple in lower case.
  returned: when served
  type: str
status:
  description: certStatus of the served staple (good, revoked, unknown).
  returned: when served
  type: str
this_update:
  description: thisUpdate of the served staple, ISO 8601 UTC.
  returned: when served
  type: str
  sample: '2026-03-01T11:00:00Z'
next_update:
  description: nextUpdate of the served staple.
  returned: when served
  type: str
produced_at:
  description: producedAt of the served staple.
  returned: when served
  type: str
signer:
  description: Subject of the certificate whose key signed the served staple.
  returned: when served
  type: str
signer_not_after:
  description: notAfter of the signer certificate.
  returned: when served
  type: str
expires_at:
  description: Effective expiry of the served staple, min(nextUpdate, signer notAfter).
  returned: when served
  type: str
remaining_seconds:
  description: Seconds from now to RV(expires_at).
  returned: when served
  type: int
size:
  description: Size of the served staple in bytes.
  returned: when served
  type: int
results:
  description: With O(checks), one result (the keys above) per check, in order.
  returned: with checks
  type: list
  elements: dict
codes:
  description: The problem codes alone, in order.
  returned: always
  type: list
  elements: str
  sample:
  - signer_expires_too_soon
"""

import datetime

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.ocsp_staple.argspecs import PAIR, POLICY
from ansible.module_utils.ocsp_staple.compat import UTC
from ansible.module_utils.ocsp_staple.durations import policy_options
from ansible.module_utils.ocsp_staple.errors import OcspStapleError
from ansible.module_utils.ocsp_staple.requires import cryptography_problem

IMPORT_ERROR = None
try:
    from ansible.module_utils.ocsp_staple.node.served import run_checks, stale
except ImportError as exc:  # cryptography missing or too old: main() names it
    IMPORT_ERROR = f"ocsp_served_info: cannot import its core: {exc}"

CHECK_OPTIONS = {
    "server_name": {"type": "str"},
    "port": {"type": "int"},
    "expect_file": {"type": "path"},
    **PAIR,
    "assume_lifetime_without_next_update": {"type": "str"},
}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "host": {"type": "str", "default": "127.0.0.1"},
            "port": {"type": "int", "default": 443},
            "server_name": {"type": "str"},
            "expect_file": {"type": "path"},
            **PAIR,
            "certificate": {"type": "path"},  # required in each entry of checks instead
            "timeout": {"type": "float", "default": 10.0},
            **POLICY,
            "require_valid": {"type": "bool", "default": False},
            "tolerate_stale": {"type": "bool", "default": False},
            "checks": {"type": "list", "elements": "dict", "options": CHECK_OPTIONS},
        },
        required_one_of=[("certificate", "checks")],
        mutually_exclusive=[("certificate", "checks")],
        supports_check_mode=True,
    )
    problem = cryptography_problem("ocsp_served_info") or IMPORT_ERROR
    if problem is not None:
        module.fail_json(msg=problem)
    params = module.params
    single = params["checks"] is None
    checks = [params] if single else params["checks"]
    try:
        results, failures = run_checks(
            checks,
            host=params["host"],
            default_port=params["port"],
            timeout=params["timeout"],
            now=datetime.datetime.now(UTC),
            **policy_options(params),
            require_valid=params["require_valid"],
            tolerate_stale=params["tolerate_stale"],
        )
    except OcspStapleError as exc:
        module.fail_json(msg=str(exc))
    found_stale = stale(results)
    if single:
        result = {**results[0], "stale": found_stale}
        if failures:
            module.fail_json(**{**result, "msg": failures[0]})
        module.exit_json(changed=False, **result)
    if failures:
        module.fail_json(msg="; ".join(failures), results=results, stale=found_stale)
    module.exit_json(changed=False, results=results, stale=found_stale)


if __name__ == "__main__":
    main()
