#!/usr/bin/python
# Copyright: (c) 2026, ocsp-stapling maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module ocsp_deploy: every staple and stapling snippet of one nginx node in one pass."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ocsp_deploy
short_description: Install all OCSP staples and nginx stapling snippets of a node in one pass
description:
  - The role's deploy step. For each certificate of the node, a stapled certificate's staple
    (base64 DER from the central store) is re-validated on the node against the node's own
    certificate files with the project's policy and written atomically; every certificate's
    snippet (C(ssl_stapling on; ssl_stapling_file ...;) or C(ssl_stapling off;) with the reason)
    is written atomically. Missing directories are created (0755).
  - All or nothing. When any staple is rejected on this node, nothing is written and the task
    fails naming every rejection - the files on disk stay what nginx serves, so no new staple
    can sit on disk unloaded. The exception is a certificate marked O(certificates[].hold).
  - Every documented return value is present on every path, failures included.
  - One module execution per node instead of one per file; M(ocsp.stapling.ocsp_staple) remains for single files.
  - RV(reload) is true when staple bytes or snippet text changed; C(changed) is true only when
    something was written (also a mode, owner or directory).
  - What nginx serves is checked by M(ocsp.stapling.ocsp_served_info) after the reload (and, when nothing was
    written, before - a node whose earlier reload failed serves other bytes than its files and is
    tested and reloaded). This module does not ship the TLS client to the node.
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
        description: Why stapling is off (written into the snippet).
        type: str
        default: ""
      content:
        description: The staple as base64 DER; required when O(certificates[].stapled).
        type: str
      certificate:
        description: PEM file of the leaf on the node; it may hold the chain, issuer second.
        type: path
        required: true
      issuer:
        description: PEM file of the issuer on the node.
        type: path
      staple_path:
        description: Where the staple goes (the snippet's C(ssl_stapling_file)).
        type: path
        required: true
      snippet_path:
        description: Where the snippet goes (included by the certificate's C(server {}) block).
        type: path
        required: true
      hold:
        description:
          - The central host has no valid staple for it in this run (its refresh failed; or check mode before the
            first fetch). When O(certificates[].content) is
            missing or this node rejects it, the node keeps the certificate's files as they are (a missing snippet
            becomes C(ssl_stapling off;) so an C(include) of it never breaks C(nginx -t)), and the other
            certificates still deploy; RV(certificates) names it with C(held).
        type: bool
        default: false
      assume_lifetime_without_next_update:
        description:
          - This certificate's own end for a staple without nextUpdate (thisUpdate plus this duration), as the
            central refresh judged it; overrides the module-wide O(assume_lifetime_without_next_update).
        type: str
attributes:
  check_mode:
    support: full
    description: Validates and computes RV(reload), C(changed) and the diff; writes nothing.
  diff_mode:
    support: full
    description: Staple facts (thisUpdate, nextUpdate, expiry, signer) and snippet text, before and after.
  idempotent:
    support: full
    description:
      - A second run with the same staples, snippets, mode and owner writes nothing and reports C(changed=false).
requirements:
  - cryptography >= 36.0 on the node
seealso:
  - module: ocsp.stapling.ocsp_staple
  - module: ocsp.stapling.ocsp_store_info
"""

EXAMPLES = r"""
- name: Install the node's staples and snippets
  ocsp_deploy:
    certificates:
      - name: www.example.org
        stapled: true
        content: "{{ store.certificates['www.example.org'].staple }}"
        certificate: /etc/nginx/ssl/www.example.org.pem
        staple_path: /etc/nginx/ocsp/www.example.org.der
        snippet_path: /etc/nginx/snippets/ocsp-www.example.org.conf
      - name: legacy.example.org
        stapled: false
        reason: the certificate has no OCSP responder URL
        certificate: /etc/nginx/ssl/legacy.example.org.pem
        staple_path: /etc/nginx/ocsp/legacy.example.org.der
        snippet_path: /etc/nginx/snippets/ocsp-legacy.example.org.conf
  register: __deploy
  notify: Reload nginx
"""

RETURN = r"""
reload:
  description: True when nginx must reload - staple bytes or snippet text changed.
  returned: always
  type: bool
certificates:
  description: Per certificate name - stapled, staple_changed, snippet_changed, snippet, for stapled
    certificates dest plus the verdict and facts of the staple on this node, and C(held) (why the node kept its
    files) for a held certificate. Empty when the module failed before planning.
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
    from ansible.module_utils.ocsp_staple.node.deploy import certificates_from_params, deploy
    from ansible.module_utils.ocsp_staple.node.install import parse_mode, resolve_group, resolve_owner
except ImportError as exc:  # cryptography missing or too old: main() names it
    IMPORT_ERROR = f"ocsp_deploy: cannot import its core: {exc}"

#: Every documented return value, so a failure still carries each key (the role's conditions read them).
EMPTY = {"changed": False, "reload": False, "certificates": {}}

CERTIFICATE_OPTIONS = {
    "name": {"type": "str", "required": True},
    "stapled": {"type": "bool", "required": True},
    "reason": {"type": "str", "default": ""},
    "content": {"type": "str"},
    "certificate": {"type": "path", "required": True},
    "issuer": {"type": "path"},
    "staple_path": {"type": "path", "required": True},
    "snippet_path": {"type": "path", "required": True},
    "hold": {"type": "bool", "default": False},
    "assume_lifetime_without_next_update": {"type": "str"},
}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "certificates": {"type": "list", "elements": "dict", "required": True, "options": CERTIFICATE_OPTIONS},
            **POLICY,
            **FILES,
        },
        supports_check_mode=True,
    )
    problem = cryptography_problem("ocsp_deploy") or IMPORT_ERROR
    if problem is not None:
        module.fail_json(msg=problem, **EMPTY)
    params = module.params
    try:
        outcome = deploy(
            certificates_from_params(params["certificates"]),
            now=datetime.datetime.now(UTC),
            **policy_options(params),
            mode=parse_mode(params["mode"]),
            owner=resolve_owner(params["owner"]),
            group=resolve_group(params["group"]),
            check_mode=module.check_mode,
            diff=module._diff,
        )
    except OcspStapleError as exc:
        module.fail_json(msg=str(exc), **EMPTY)
    if outcome.failure is not None:
        module.fail_json(msg=outcome.failure, **{**EMPTY, **outcome.result})
    module.exit_json(**{**EMPTY, **outcome.result})


if __name__ == "__main__":
    main()
