#!/usr/bin/python
# Copyright: (c) 2026, ocsp-stapling maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module ocsp_haproxy: every staple of one HAProxy node, pushed over the runtime API."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ocsp_haproxy
short_description: Install all OCSP staples of a HAProxy node, pushed over its runtime API without a reload
description:
  - The role's deploy step on a node with C(ocsp_stapling_server=haproxy). Each stapled certificate's staple
    (base64 DER from the central store) is re-validated on the node against the PEM HAProxy loads, with the
    project's policy (HAProxy itself checks neither the signature nor the signer's lifetime).
  - A changed staple is pushed first with C(set ssl ocsp-response) on the admin socket (a certificate HAProxy
    started without a response gets its first one in a C(set ssl cert <crt>.ocsp) transaction), confirmed with
    C(show ssl ocsp-response), then written atomically to C(<crt>.ocsp) so a restart serves the same bytes.
  - When HAProxy cannot be reached or refuses, the task fails in one line naming the socket, the certificate and
    HAProxy's answer; that certificate's file and served staple stay as they were. With O(allow_reload) the file is
    written instead and RV(reload) asks the caller for a reload (after C(haproxy -c)).
  - Stapling off removes C(<crt>.ocsp) and needs a reload - HAProxy 2.6 cannot stop stapling one certificate at
    runtime. Without O(allow_reload) that fails and the file stays.
  - A rejected staple fails the task and nothing is pushed or written on the node (except O(certificates[].hold)).
  - Every documented return value is present on every path, failures included. What clients are served is
    checked afterwards by M(ocsp.stapling.ocsp_served_info), a real TLS handshake.
version_added: "0.1.0"
author: ocsp-stapling maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ocsp_staple.policy
  - ocsp_staple.files
options:
  certificates:
    description: The node's certificates.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Certificate name (letters, digits, '.', '_', '-').
        type: str
        required: true
      stapled:
        description: Whether stapling is on for this certificate.
        type: bool
        required: true
      reason:
        description: Why stapling is off (reported).
        type: str
        default: ""
      content:
        description: The staple as base64 DER; required when O(certificates[].stapled).
        type: str
      certificate:
        description: The PEM HAProxy's C(crt) loads (leaf, chain, key); the staple is judged against its leaf.
        type: path
        required: true
      issuer:
        description: PEM file of the issuer, when the crt file does not hold it.
        type: path
      staple_path:
        description: C(<certificate>.ocsp), the file HAProxy reads at start.
        type: path
        required: true
      hold:
        description:
          - The central host has no valid staple for it in this run. When O(certificates[].content) is missing or
            this node rejects it, the node keeps the certificate's file and served staple; the others still deploy.
        type: bool
        default: false
      assume_lifetime_without_next_update:
        description:
          - This certificate's own end for a staple without nextUpdate (thisUpdate plus this duration); overrides
            the module-wide O(assume_lifetime_without_next_update).
        type: str
  socket:
    description: HAProxy's admin socket (C(stats socket <path> level admin) in haproxy.cfg).
    type: path
    default: /run/haproxy/admin.sock
  timeout:
    description: Seconds for each runtime command, connect to last byte of the answer.
    type: float
    default: 10
  allow_reload:
    description:
      - Whether a change the runtime API cannot make may be left to a reload (RV(reload)) - a failed push, or
        stapling off. When false such a change fails the task and the file stays.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Validates and computes C(changed) and the diff; pushes and writes nothing.
  diff_mode:
    support: full
    description: Staple facts (thisUpdate, nextUpdate, expiry, signer) before and after; removed files.
  idempotent:
    support: full
    description:
      - A second run with the same staples writes and pushes nothing and reports C(changed=false).
requirements:
  - cryptography >= 36.0 on the node
  - HAProxy 2.6 or later with an admin-level stats socket
seealso:
  - module: ocsp.stapling.ocsp_deploy
  - module: ocsp.stapling.ocsp_served_info
"""

EXAMPLES = r"""
- name: Push the node's staples to HAProxy
  ocsp.stapling.ocsp_haproxy:
    socket: /run/haproxy/admin.sock
    certificates:
      - name: www.example.org
        stapled: true
        content: "{{ store.certificates['www.example.org'].staple }}"
        certificate: /etc/haproxy/certs/www.example.org.pem
        staple_path: /etc/haproxy/certs/www.example.org.pem.ocsp
  register: __pushed
"""

RETURN = r"""
reload:
  description: True when HAProxy must reload (after C(haproxy -c)) - a push failed with O(allow_reload), or a
    certificate's stapling went off.
  returned: always
  type: bool
runtime:
  description: Per certificate changed in this run, how HAProxy got it - C(update), C(transaction), or C(reload (why)).
  returned: always
  type: dict
certificates:
  description: Per certificate name - stapled, and for stapled ones staple_changed, dest and the verdict of the staple
    on this node; C(removed) for stapling off; C(held) for a held certificate. Empty when the module failed before
    planning.
  returned: always
  type: dict
"""

import datetime

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.ocsp_staple.argspecs import FILES, POLICY
from ansible.module_utils.ocsp_staple.compat import UTC
from ansible.module_utils.ocsp_staple.durations import policy_options
from ansible.module_utils.ocsp_staple.errors import OcspStapleError
from ansible.module_utils.ocsp_staple.requires import cryptography_problem

IMPORT_ERROR = None
try:
    from ansible.module_utils.ocsp_staple.node.deploy import certificates_from_params
    from ansible.module_utils.ocsp_staple.node.haproxy import deploy_haproxy
    from ansible.module_utils.ocsp_staple.node.install import parse_mode, resolve_group, resolve_owner
except ImportError as exc:  # cryptography missing or too old: main() names it
    IMPORT_ERROR = f"ocsp_haproxy: cannot import its core: {exc}"

#: Every documented return value, so a failure still carries each key (the role's conditions read them).
EMPTY = {"changed": False, "reload": False, "runtime": {}, "certificates": {}}

CERTIFICATE_OPTIONS = {
    "name": {"type": "str", "required": True},
    "stapled": {"type": "bool", "required": True},
    "reason": {"type": "str", "default": ""},
    "content": {"type": "str"},
    "certificate": {"type": "path", "required": True},
    "issuer": {"type": "path"},
    "staple_path": {"type": "path", "required": True},
    "hold": {"type": "bool", "default": False},
    "assume_lifetime_without_next_update": {"type": "str"},
}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "certificates": {"type": "list", "elements": "dict", "required": True, "options": CERTIFICATE_OPTIONS},
            "socket": {"type": "path", "default": "/run/haproxy/admin.sock"},
            "timeout": {"type": "float", "default": 10},
            "allow_reload": {"type": "bool", "default": True},
            **POLICY,
            **FILES,
        },
        supports_check_mode=True,
    )
    problem = cryptography_problem("ocsp_haproxy") or IMPORT_ERROR
    if problem is not None:
        module.fail_json(msg=problem, **EMPTY)
    params = module.params
    try:
        outcome = deploy_haproxy(
            certificates_from_params(params["certificates"]),
            socket_path=params["socket"],
            now=datetime.datetime.now(UTC),
            allow_reload=params["allow_reload"],
            timeout=params["timeout"],
            check_mode=module.check_mode,
            diff=module._diff,
            **policy_options(params),
            mode=parse_mode(params["mode"]),
            owner=resolve_owner(params["owner"]),
            group=resolve_group(params["group"]),
        )
    except OcspStapleError as exc:
        module.fail_json(msg=str(exc), **EMPTY)
    if outcome.failure is not None:
        module.fail_json(msg=outcome.failure, **{**EMPTY, **outcome.result})
    module.exit_json(**{**EMPTY, **outcome.result})


if __name__ == "__main__":
    main()
