#!/usr/bin/python
# Copyright: (c) 2026, ocsp-stapling maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module ocsp_store_info: what the central store would hand to the nodes."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ocsp_store_info
short_description: Read the staples to deploy and their freeze state from the central OCSP store
description:
  - Reads the central store that M(ocsp.stapling.ocsp_response) fills, on the central host, and returns per
    certificate the staple the nodes must get (base64 DER) - the pinned staple while the
    certificate is frozen, else C(current.der) - with the freeze record, the disable switch and the
    last fetch outcome.
  - Changes nothing. The node-side M(ocsp.stapling.ocsp_staple) re-validates whatever it is given.
version_added: "0.1.0"
author: ocsp-stapling maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ocsp_staple.store
options:
  names:
    description: Certificate names to read; default every certificate directory in the store.
    type: list
    elements: str
  certificates:
    description:
      - Certificate entries (C(name), C(certificate) path on the central host, ...) to read instead of
        O(names); each result then also carries the certificate's RV(certificates.ocsp_urls) and
        RV(certificates.must_staple), which the role's stapling plan needs.
    type: list
    elements: dict
attributes:
  check_mode:
    support: full
    description: Read-only; it runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
  idempotent:
    support: full
    description: Read-only; C(changed) is always false.
seealso:
  - module: ocsp.stapling.ocsp_response
  - module: ocsp.stapling.ocsp_staple
"""

EXAMPLES = r"""
- name: Read what the nodes should serve
  ocsp_store_info:
    store: /var/lib/ocsp-stapling
    names: [www.example.org]
  delegate_to: "{{ ocsp_stapling_central_host }}"
  run_once: true
  register: __store
"""

RETURN = r"""
certificates:
  description: Per certificate name.
  returned: always
  type: dict
  contains:
    staple:
      description: Base64 DER of the staple to deploy; null when the store has none.
      type: str
    source:
      description: C(pin) while frozen, C(current) otherwise, null without a staple.
      type: str
    frozen:
      description: True while a pin exists.
      type: bool
    pin:
      description: The freeze record (who, when, why, pinned staple facts) while frozen.
      type: dict
    disabled:
      description:
        - The record of the disable switch (C(stapling.json), written by M(ocsp.stapling.ocsp_switch)) that
          applies to the certificate - who, when, why, force_disable_must_staple - or null when stapling is not
          switched off.
      type: dict
    last_outcome:
      description: Reason code of the last fetch attempt (valid, try_later, http_503, ...).
      type: str
    last_attempt_at:
      description: Time of the last fetch attempt.
      type: str
    last_success_at:
      description: Time of the last valid answer.
      type: str
    consecutive_failures:
      description: Rejected or failed attempts since the last valid answer.
      type: int
    ocsp_urls:
      description: With O(certificates), the OCSP responder URLs of the certificate (AIA).
      type: list
      elements: str
    must_staple:
      description: With O(certificates), whether the certificate carries Must-Staple (TLS Feature status_request).
      type: bool
"""

import base64

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.ocsp_staple.argspecs import STORE
from ansible.module_utils.ocsp_staple.central.store import deploy_view, leaf_summary, names
from ansible.module_utils.ocsp_staple.errors import OcspStapleError
from ansible.module_utils.ocsp_staple.requires import cryptography_problem


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **STORE,
            "names": {"type": "list", "elements": "str"},
            "certificates": {"type": "list", "elements": "dict"},
        },
        mutually_exclusive=[("names", "certificates")],
        supports_check_mode=True,
    )
    problem = cryptography_problem("ocsp_store_info")
    if problem is not None:
        module.fail_json(msg=problem)
    root = module.params["store"]
    entries = module.params["certificates"]
    out = {}
    try:
        if entries is not None:
            wanted = [(str(entry.get("name")), entry.get("certificate")) for entry in entries]
        else:
            chosen = module.params["names"] if module.params["names"] is not None else names(root)
            wanted = [(name, None) for name in chosen]
        for name, certificate in wanted:
            view = deploy_view(root, name)
            staple = view.pop("staple")
            view["staple"] = base64.b64encode(staple).decode() if staple is not None else None
            if certificate:
                view.update(leaf_summary(certificate))
            out[name] = view
    except OcspStapleError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, certificates=out)


if __name__ == "__main__":
    main()
