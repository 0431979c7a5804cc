#!/usr/bin/python
# Copyright: (c) 2026, ocsp-stapling maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module ocsp_switch: switch OCSP stapling off (audited, persistent) or on again in the central store."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ocsp_switch
short_description: Record or remove the audited switch that turns OCSP stapling off fleet-wide
description:
  - Writes C(stapling.json) at the top of the central store (O(state=disabled)) with who, when and
    why, for every certificate or for O(names); removes it again (O(state=enabled)). M(ocsp.stapling.ocsp_store_info)
    returns the record that applies to each certificate and the role renders C(ssl_stapling off) for
    it, on every later run too (a scheduled C(site.yml) does not switch stapling back on), until
    O(state=enabled).
  - Disabling a Must-Staple certificate is refused - hard-fail clients reject the site without a
    staple - unless O(force_disable_must_staple=true); that consent is recorded with the switch so later
    runs honour it. The certificates in O(certificates) are read for this check.
version_added: "0.1.0"
author: ocsp-stapling maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ocsp_staple.certificates
  - ocsp_staple.store
  - ocsp_staple.audit
options:
  certificates:
    description: The certificates of the store; those the switch covers are checked for Must-Staple.
  state:
    description: C(disabled) records the switch, C(enabled) removes it.
    type: str
    choices: [disabled, enabled]
    required: true
  names:
    description: Certificate names; default every certificate (enabling without names removes the whole switch).
  reason:
    description: Why stapling is switched off (required for O(state=disabled)).
  force_disable_must_staple:
    description: Switch stapling off for Must-Staple certificates too (hard-fail clients will reject the site).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports what would be written or removed, and the diff; writes nothing.
  diff_mode:
    support: full
    description: The switch file before and after.
  idempotent:
    support: full
    description: Disabling what is already off, or enabling what is on, writes nothing.
seealso:
  - module: ocsp.stapling.ocsp_freeze
  - module: ocsp.stapling.ocsp_store_info
"""

EXAMPLES = r"""
- name: Switch stapling off everywhere
  ocsp_switch:
    store: /var/lib/ocsp-stapling
    certificates: "{{ ocsp_stapling_certificates }}"
    state: disabled
    reason: "responder signs with an expired certificate"

- name: Switch it on again
  ocsp_switch:
    store: /var/lib/ocsp-stapling
    state: enabled
"""

RETURN = r"""
message:
  description: One summary line.
  returned: always
  type: str
  sample: stapling switched off for every certificate
switch:
  description: The switch after the task (C(all) and per-name C(certificates) records); empty when stapling is on.
  returned: always
  type: dict
diff:
  description: The switch before and after.
  returned: always
  type: dict
"""

import datetime

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.ocsp_staple.argspecs import AUDIT
from ansible.module_utils.ocsp_staple.central.audit import local_operator
from ansible.module_utils.ocsp_staple.central.switch import set_switch
from ansible.module_utils.ocsp_staple.compat import UTC
from ansible.module_utils.ocsp_staple.errors import OcspStapleError
from ansible.module_utils.ocsp_staple.requires import cryptography_problem
from ansible.module_utils.ocsp_staple.spec import CERTIFICATE_OPTIONS, parse_certificates


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "certificates": {"type": "list", "elements": "dict", "options": CERTIFICATE_OPTIONS},
            "state": {"type": "str", "choices": ["disabled", "enabled"], "required": True},
            **AUDIT,
            "force_disable_must_staple": {"type": "bool", "default": False},
        },
        required_if=[("state", "disabled", ("reason",))],
        supports_check_mode=True,
    )
    problem = cryptography_problem("ocsp_switch")
    if problem is not None:
        module.fail_json(msg=problem)
    p = module.params
    try:
        outcome = set_switch(
            p["store"],
            enabled=p["state"] == "enabled",
            who=p["who"] or local_operator(),
            now=datetime.datetime.now(UTC),
            reason=p["reason"],
            names=p["names"],
            certificates=parse_certificates(p["certificates"]) if p["certificates"] else [],
            force_disable_must_staple=p["force_disable_must_staple"],
            check_mode=module.check_mode,
        )
    except OcspStapleError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(
        changed=outcome.changed,
        message=outcome.message,
        switch=outcome.after,
        diff={"before": outcome.before, "after": outcome.after},
    )


if __name__ == "__main__":
    main()
