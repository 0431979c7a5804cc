#!/usr/bin/python
# Copyright: (c) 2026, ocsp-stapling maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module ocsp_response_info: judge an OCSP staple with the project's validation policy."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ocsp_response_info
short_description: Validate an OCSP staple and return its facts and verdict
description:
  - Applies the project's validation policy (docs/PROBLEM_CODES.md) to a DER OCSPResponse
    for a leaf certificate and its issuer, and returns the verdict and the facts.
  - A bad staple is a result (C(valid=false) with problem codes), not a task failure.
    Only an unreadable staple file or an unreadable, non-PEM or mismatched certificate
    fails the task, with a one-line message.
  - Runs on the target with its own Python and C(cryptography) (36 or newer).
version_added: "0.1.0"
author: ocsp-stapling maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ocsp_staple
  - ocsp_staple.policy
options:
  path:
    description: Staple file (DER OCSPResponse) on the target. Mutually exclusive with O(content).
    type: path
  content:
    description: The staple as base64-encoded DER. Mutually exclusive with O(path).
    type: str
attributes:
  check_mode:
    support: full
    description: The module changes nothing; it runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
  idempotent:
    support: full
    description: Read-only; C(changed) is always false.
requirements:
  - cryptography >= 36.0 on the target
notes:
  - Checks, all of them, every time - DER and no trailing data, responseStatus, CertID match
    (SHA-1 or SHA-256), certStatus good, signature by the issuer or a delegated responder
    issued and signed by it with EKU OCSPSigning, signer validity, thisUpdate/nextUpdate sanity,
    and an effective expiry min(nextUpdate, signer notAfter) at least O(min_remaining) away.
seealso:
  - module: ocsp.stapling.ocsp_staple
  - module: ocsp.stapling.ocsp_response
"""

EXAMPLES = r"""
- name: Judge the deployed staple of www.example.org
  ocsp_response_info:
    path: /etc/nginx/ocsp/www.example.org.der
    certificate: /etc/ssl/www.example.org/fullchain.pem
  register: __staple

- name: Fail when the staple would not pass the policy
  ansible.builtin.assert:
    that: __staple.valid
    fail_msg: "{{ __staple.problems | map(attribute='message') | join('; ') }}"

- name: Judge a staple held in a variable, with a stricter margin
  ocsp_response_info:
    content: "{{ staple_b64 }}"
    certificate: /etc/ssl/leaf.pem
    issuer: /etc/ssl/issuer.pem
    min_remaining: 12h
"""

RETURN = r"""
valid:
  description: True only when every check passed.
  returned: always
  type: bool
  sample: false
response_status:
  description: responseStatus in lower case (successful, try_later, ...); null when unparseable.
  returned: always
  type: str
status:
  description: certStatus of the matching SingleResponse (good, revoked, unknown).
  returned: always
  type: str
this_update:
  description: thisUpdate, ISO 8601 UTC.
  returned: always
  type: str
  sample: '2026-03-01T11:00:00Z'
next_update:
  description: nextUpdate, ISO 8601 UTC.
  returned: always
  type: str
produced_at:
  description: producedAt, ISO 8601 UTC.
  returned: always
  type: str
revocation_time:
  description: When revoked, the revocation time.
  returned: always
  type: str
signer:
  description: Subject of the certificate whose key signed the response.
  returned: always
  type: str
signer_delegated:
  description: True when a delegated responder certificate signed, false when the issuer did.
  returned: always
  type: bool
signer_not_after:
  description: notAfter of the signer certificate.
  returned: always
  type: str
expires_at:
  description: Effective expiry, min(nextUpdate, signer notAfter).
  returned: always
  type: str
remaining_seconds:
  description: Seconds from now to RV(expires_at) (negative when past).
  returned: always
  type: int
size:
  description: Size of the staple in bytes.
  returned: always
  type: int
cert_id:
  description: The CertID that matched (hash_algorithm, serial_number, issuer_name_hash, issuer_key_hash).
  returned: always
  type: dict
problems:
  description: Every problem found, each a stable code and one sentence naming the values.
  returned: always
  type: list
  elements: dict
  sample:
  - code: signer_expires_too_soon
    message: 'staple for www.example.org: signer certificate ...'
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
from ansible.module_utils.ocsp_staple.certs import load_pair
from ansible.module_utils.ocsp_staple.compat import UTC
from ansible.module_utils.ocsp_staple.der import from_base64
from ansible.module_utils.ocsp_staple.durations import policy_options
from ansible.module_utils.ocsp_staple.errors import OcspStapleError
from ansible.module_utils.ocsp_staple.fsutil import read_file
from ansible.module_utils.ocsp_staple.policy import validate
from ansible.module_utils.ocsp_staple.requires import cryptography_problem


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path"},
            "content": {"type": "str"},
            **PAIR,
            **POLICY,
        },
        mutually_exclusive=[("path", "content")],
        required_one_of=[("path", "content")],
        supports_check_mode=True,
    )
    problem = cryptography_problem("ocsp_response_info")
    if problem is not None:
        module.fail_json(msg=problem)
    params = module.params
    now = datetime.datetime.now(UTC)
    try:
        pair = load_pair(params["certificate"], params["issuer"])
        policy = {
            "now": now,
            **policy_options(params),
            "name": params["name"],
        }
        if params["path"]:
            verdict = validate(read_file(params["path"], what="staple file"), pair, **policy)
        else:
            verdict = validate(from_base64(params["content"], what="content"), pair, **policy)
    except OcspStapleError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **verdict.as_dict())


if __name__ == "__main__":
    main()
