#!/usr/bin/python
# Copyright: (c) 2026, ocsp-stapling maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module ocsp_staple: re-validate a staple on the node and install it atomically."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ocsp_staple
short_description: Install a known-good OCSP staple on a TLS node after re-validating it there
description:
  - Takes a staple (DER OCSPResponse, base64) handed out by the central store, validates it
    on the node with the project's policy (docs/PROBLEM_CODES.md) against the node's own
    certificate and issuer files, and writes it to O(dest) atomically (temporary file in the
    same directory, fsync, rename, directory fsync). Readers such as C(nginx -t) see the old
    file or the new one, never a mix.
  - An invalid staple fails the task with every problem listed, and O(dest) is left untouched
    (bytes, mode and owner), also in check mode.
  - Reports C(changed) when the bytes at O(dest) differ from the staple (then it writes them),
    and also when the bytes are equal but the mode, owner or group differ (then it fixes them
    in place without rewriting). RV(content_changed) tells the two apart, so a handler can
    reload nginx only when the bytes changed.
  - Runs on the node with its distribution's Python and C(cryptography) (36 or newer); it
    needs no other package.
version_added: "0.1.0"
author: ocsp-stapling maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ocsp_staple
  - ocsp_staple.policy
  - ocsp_staple.files
options:
  content:
    description: The staple as base64-encoded DER (for example the central C(current.der) read with C(slurp)).
    type: str
    required: true
  dest:
    description:
      - Path of the staple file nginx reads (C(ssl_stapling_file)). Its directory must exist.
      - A symbolic link at O(dest) is replaced by a regular file when the bytes change.
    type: path
    required: true
  backup:
    description: Before replacing different bytes, keep a copy of the old file next to it (timestamped name).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Validates and computes C(changed) and the diff exactly as a real run would; writes nothing.
  diff_mode:
    support: full
    description: Before/after thisUpdate, nextUpdate, effective expiry, signer, validity, size, mode and ids.
  idempotent:
    support: full
    description: A second run with the same staple, mode and owner reports C(changed=false).
requirements:
  - cryptography >= 36.0 on the node
notes:
  - Validation is the same as M(ocsp.stapling.ocsp_response_info) and the central store apply. The node does not
    compare the new staple with the old one beyond the diff (the central store already only promotes
    staples that are not worse than the current one); it refuses anything invalid for its own certificate.
  - The old file is judged with the same policy for the diff only; an invalid old file never blocks a valid new one.
seealso:
  - module: ocsp.stapling.ocsp_response_info
  - module: ocsp.stapling.ocsp_response
"""

EXAMPLES = r"""
- name: Read the known-good staple from the central store
  ansible.builtin.slurp:
    src: /var/lib/ocsp-staple/www.example.org/current.der
  delegate_to: "{{ ocsp_stapling_central_host }}"
  run_once: true
  register: __ocsp_stapling_current

- name: Install the staple of www.example.org on the node
  ocsp_staple:
    content: "{{ __ocsp_stapling_current.content }}"
    dest: /etc/nginx/ocsp/www.example.org.der
    certificate: /etc/ssl/www.example.org/fullchain.pem
    owner: root
    group: root
    mode: "0644"
  register: __ocsp_stapling_installed
  notify: Test the nginx configuration
"""

RETURN = r"""
dest:
  description: The staple path.
  returned: always
  type: str
  sample: /etc/nginx/ocsp/www.example.org.der
content_changed:
  description: True when the bytes at O(dest) differ from the staple (written unless check mode).
  returned: success
  type: bool
attributes_changed:
  description: Which of mode, owner, group were (or in check mode would be) fixed while the bytes were equal.
  returned: success
  type: list
  elements: str
  sample:
  - mode
backup_file:
  description: Copy of the replaced file, when O(backup) made one.
  returned: changed and backup made
  type: str
valid:
  description: Verdict of the new staple (true on success; a failed task carries false).
  returned: always
  type: bool
problems:
  description: Every problem found in the new staple, each a stable code and one sentence.
  returned: always
  type: list
  elements: dict
  sample:
  - code: signer_expires_too_soon
    message: 'staple for www.example.org: signer certificate ...'
this_update:
  description: thisUpdate of the new staple, ISO 8601 UTC.
  returned: always
  type: str
  sample: '2026-03-01T11:00:00Z'
next_update:
  description: nextUpdate of the new staple.
  returned: always
  type: str
expires_at:
  description: Effective expiry of the new staple, min(nextUpdate, signer notAfter).
  returned: always
  type: str
remaining_seconds:
  description: Seconds from now to RV(expires_at).
  returned: always
  type: int
signer:
  description: Subject of the certificate whose key signed the new staple.
  returned: always
  type: str
status:
  description: certStatus of the new staple.
  returned: always
  type: str
response_status:
  description: responseStatus of the new staple in lower case.
  returned: always
  type: str
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
from ansible.module_utils.ocsp_staple.argspecs import FILES, PAIR, POLICY
from ansible.module_utils.ocsp_staple.compat import UTC
from ansible.module_utils.ocsp_staple.der import from_base64
from ansible.module_utils.ocsp_staple.durations import policy_options
from ansible.module_utils.ocsp_staple.errors import OcspStapleError
from ansible.module_utils.ocsp_staple.requires import cryptography_problem

IMPORT_ERROR = None
try:
    from ansible.module_utils.ocsp_staple.certs import load_pair
    from ansible.module_utils.ocsp_staple.node.install import (
        apply_install,
        parse_mode,
        plan_install,
        resolve_group,
        resolve_owner,
    )
except ImportError as exc:  # cryptography missing or too old: main() names it
    IMPORT_ERROR = f"ocsp_staple: cannot import its core: {exc}"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "content": {"type": "str", "required": True},
            "dest": {"type": "path", "required": True},
            **PAIR,
            **POLICY,
            **FILES,
            "backup": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    problem = cryptography_problem("ocsp_staple") or IMPORT_ERROR
    if problem is not None:
        module.fail_json(msg=problem)
    params = module.params
    dest = params["dest"]
    try:
        plan = plan_install(
            from_base64(params["content"], what="content"),
            load_pair(params["certificate"], params["issuer"]),
            dest=dest,
            now=datetime.datetime.now(UTC),
            **policy_options(params),
            name=params["name"],
            mode=parse_mode(params["mode"]),
            owner=resolve_owner(params["owner"]),
            group=resolve_group(params["group"]),
        )
        result = {"dest": dest, **plan.verdict.as_dict()}
        if not plan.verdict.valid:
            module.fail_json(msg=plan.rejection(), **result)
        result.update(
            changed=plan.changed,
            content_changed=plan.content_changed,
            attributes_changed=plan.attributes_changed,
        )
        if module._diff:
            result["diff"] = plan.diff()
        if plan.changed and not module.check_mode:
            if params["backup"] and plan.content_changed and plan.current.data is not None:
                result["backup_file"] = module.backup_local(dest)
            apply_install(plan)
    except OcspStapleError as exc:
        module.fail_json(msg=str(exc), dest=dest)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
