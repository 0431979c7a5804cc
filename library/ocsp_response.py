#!/usr/bin/python
# Copyright: (c) 2026, ocsp-stapling maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module ocsp_response: fetch, validate and keep the best OCSP staple in the central store."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ocsp_response
short_description: Fetch OCSP responses when due, retry until good, keep the best valid one in the central store
description:
  - For every certificate, fetches an OCSP response from the responder of the certificate's
    AIA extension (or O(certificates[].responder_url)) when the stored staple is due, judges every
    answer with the project's validation policy (docs/PROBLEM_CODES.md) and keeps the valid answer
    with the latest effective expiry in the central store (docs/STORE.md).
  - Due means - no current staple, the current staple is invalid, more than O(refresh_fraction) of
    its validity window (thisUpdate to the effective expiry min(nextUpdate, signer notAfter)) is used,
    the certificate is frozen (it keeps being observed), or O(force=true). A fresh staple sends no
    request and changes nothing.
  - Retries up to O(attempts) answers per certificate with jittered backoff inside O(deadline);
    stops early on a valid answer whose signer outlives its nextUpdate.
  - C(current.der) changes only to a valid answer that is not older (thisUpdate) and does not
    expire earlier than the current staple. Rejected answers go to C(quarantine/) with their
    problems; every attempt is recorded in C(state.json). A frozen certificate (C(pin.json))
    never has its C(current.der) changed.
  - The task fails only when a certificate has no valid staple at all, when the staple it deploys
    has less than O(critical_remaining) left, or when a Must-Staple certificate has no OCSP URL.
    A misbehaving responder otherwise shows as warnings and in C(state.json).
  - Runs on the central host; needs C(requests) there (and C(prometheus_client) for O(metrics_path)).
version_added: "0.1.0"
author: ocsp-stapling maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ocsp_staple.certificates
  - ocsp_staple.store
  - ocsp_staple.policy
  - ocsp_staple.fetch
options:
  certificates:
    description: The certificates to keep staples for.
    required: true
  store:
    description: Directory of the central store (created with mode 0755 when missing).
  attempts:
    description: Answers to ask for per certificate and run, at most.
    type: int
    default: 3
  refresh_fraction:
    description: Fetch when more than this share of the current staple's validity window is used (0 < x <= 1).
    type: float
    default: 0.5
  force:
    description: Fetch even when the current staple is fresh (the selection rule still applies).
    type: bool
    default: false
  concurrency:
    description: Certificates refreshed at the same time.
    type: int
    default: 10
  critical_remaining:
    description:
      - Fail the task when the staple a certificate deploys has less than this left.
      - The default 6h trips for a 12-hour responder only when the refresh at half-life failed,
        and for a 7-day responder long after warnings in state.json and the metrics.
attributes:
  check_mode:
    support: full
    description: Fetches and validates, reports what would change, writes nothing.
  diff_mode:
    support: full
    description: Before and after thisUpdate, nextUpdate and effective expiry per certificate.
  idempotent:
    support: full
    description: A re-run while the staples are fresh sends no request and reports no change.
requirements:
  - requests
  - cryptography >= 36.0
  - prometheus_client (only with O(metrics_path))
notes:
  - Only http and https responder URLs are accepted; redirects are not followed; response bodies are
    capped at 64 KiB (gzip and deflate bodies are decoded, the cap applying to the decoded body).
  - Each attempt asks the certificate's AIA OCSP URLs in order until one gives a valid answer
    (O(certificates[].responder_url), when given, is the only URL asked); C(state.json) records which answered.
  - One certificate's unexpected error (an exception) fails that certificate alone, recorded in its
    C(state.json) and quarantine; the others are refreshed and stored.
seealso:
  - module: ocsp.stapling.ocsp_response_info
"""

EXAMPLES = r"""
- name: Refresh the staples of the site certificates
  ocsp_response:
    store: /var/lib/ocsp-stapling/store
    certificates:
      - name: www.example.org
        certificate: /etc/ssl/www.example.org/fullchain.pem
      - name: api.example.org
        certificate: /etc/ssl/api.example.org/cert.pem
        issuer: /etc/ssl/api.example.org/issuer.pem
        responder_url: http://ocsp.example-ca.test/
    attempts: 5
    metrics_path: /var/lib/node_exporter/textfile/ocsp_staple.prom
  register: __ocsp_stapling_refresh

- name: Show what happened to each certificate
  ansible.builtin.debug:
    msg: "{{ __ocsp_stapling_refresh.certificates | map(attribute='message') | list }}"
"""

RETURN = r"""
certificates:
  description: One result per certificate, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The certificate's store name.
      type: str
    action:
      description: updated, kept, frozen, not_applicable or failed.
      type: str
      sample: updated
    changed:
      description: True when current.der changed (or would, in check mode).
      type: bool
    failed:
      description: True when the failure rule applies to this certificate.
      type: bool
    message:
      description: One summary line.
      type: str
      sample: 'www.example.org: updated, expires 2026-03-08T11:59:00Z (6 d 23 h left)'
    due:
      description: Why a fetch was made, or null when the staple was fresh.
      type: str
    responder_url:
      description: The first URL to ask.
      type: str
    responder_urls:
      description:
        - Every URL to ask, in order - O(certificates[].responder_url) alone, else the certificate's AIA OCSP URLs.
        - Each attempt asks them in order until one gives a valid answer.
      type: list
      elements: str
    answered_by:
      description: The URL that gave the best valid answer of this run (null without one); also in C(state.json).
      type: str
    must_staple:
      description: True when the certificate carries the TLS Feature status_request.
      type: bool
    frozen:
      description: True when pin.json is present.
      type: bool
    valid:
      description: True when the staple this certificate deploys passes the policy now.
      type: bool
    facts:
      description: Verdict and facts of the staple deployed (the pinned one while frozen), like ocsp_response_info.
      type: dict
    attempts:
      description: Every attempt of this run - number, at, url, outcome (valid, rejected, fetch_failed), reason,
        codes.
      type: list
      elements: dict
    problems:
      description: The rejected attempts - attempt number, reason code, problem codes, message.
      type: list
      elements: dict
    warnings:
      description: Warning lines of this certificate (also emitted as task warnings).
      type: list
      elements: str
diff:
  description: Per certificate name, this_update, next_update and expires_at before and after.
  returned: always
  type: dict
"""

import datetime

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.ocsp_staple.argspecs import FETCH, POLICY, STORE
from ansible.module_utils.ocsp_staple.central.options import RefreshOptions
from ansible.module_utils.ocsp_staple.central.refresh import run
from ansible.module_utils.ocsp_staple.compat import UTC
from ansible.module_utils.ocsp_staple.errors import OcspStapleError
from ansible.module_utils.ocsp_staple.requires import cryptography_problem
from ansible.module_utils.ocsp_staple.spec import CERTIFICATE_OPTIONS, parse_certificates


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "certificates": {"type": "list", "elements": "dict", "required": True, "options": CERTIFICATE_OPTIONS},
            **STORE,
            "attempts": {"type": "int", "default": 3},
            "refresh_fraction": {"type": "float", "default": 0.5},
            "force": {"type": "bool", "default": False},
            "concurrency": {"type": "int", "default": 10},
            **POLICY,
            **FETCH,
        },
        supports_check_mode=True,
    )
    problem = cryptography_problem("ocsp_response")
    if problem is not None:
        module.fail_json(msg=problem)
    params = dict(module.params)
    try:
        specs = parse_certificates(params.pop("certificates"))
        store = params.pop("store")
        options = RefreshOptions.from_params(params, check_mode=module.check_mode)
        outcome = run(specs, store, options, clock=lambda: datetime.datetime.now(UTC))
    except OcspStapleError as exc:
        module.fail_json(msg=str(exc))
    for warning in outcome.warnings:
        module.warn(warning)
    result = {"changed": outcome.changed, "certificates": outcome.as_dict()["certificates"], "diff": outcome.diff()}
    if outcome.failed:
        module.fail_json(msg="; ".join(outcome.failures), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
