#!/usr/bin/python
# Copyright: (c) 2026, ocsp-stapling maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module ocsp_freeze: pin a known-good OCSP staple in the central store, or thaw it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ocsp_freeze
short_description: Freeze (pin) a known-good OCSP staple in the central store, or thaw it
description:
  - The emergency workaround of the 2015-08-20 incident as one task, on the central host.
  - O(state=frozen) obtains a valid staple for each selected certificate and pins it - C(pin.json)
    (who, when, why, source, the staple's facts) and the pinned file in the certificate's store
    directory. With O(source=fetch) the CA is asked until a valid answer comes or O(deadline) passes
    (O(attempts) caps the rounds when set), then up to 3 rounds in all for a longer-lived one, and on
    to the deadline while every valid answer's signer ends before half its window is left (the
    refresh's own fetch and validation); the valid answer with the latest effective expiry wins;
    O(source=current) pins today's C(current.der) after validating it again. Fail closed -
    without a valid staple nothing is pinned and the task fails.
  - While a pin exists, M(ocsp.stapling.ocsp_response) keeps fetching and recording verdicts in C(state.json) but
    never changes what is deployed, and the role deploys the pinned staple with stapling forced on.
  - Freezing again replaces a pin only with a staple that is not worse (not older and not expiring
    earlier). Re-up a pin before it expires by freezing again with O(source=fetch).
  - O(state=thawed) removes the pin (and the pinned file) and notes the thaw in C(state.json);
    the next refresh updates the certificate again.
  - O(metrics_path) rewrites the Prometheus textfile (C(ocsp_staple_frozen) and the staple times)
    for every certificate in O(certificates) without asking the CA.
version_added: "0.1.0"
author: ocsp-stapling maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ocsp_staple.certificates
  - ocsp_staple.store
  - ocsp_staple.audit
  - ocsp_staple.policy
  - ocsp_staple.fetch
options:
  certificates:
    description:
      - The certificates of the store. Required for O(state=frozen) (each pin is validated against its
        certificate); optional for O(state=thawed) (used for the metrics only).
  state:
    description: C(frozen) pins a staple, C(thawed) removes the pin.
    type: str
    choices: [frozen, thawed]
    default: frozen
  names:
    description:
      - Certificate names to freeze or thaw. Default - every entry of O(certificates) (freeze), every
        frozen certificate in the store (thaw).
  reason:
    description: Why (recorded in C(pin.json)); required for O(state=frozen), recorded in C(state.json) on thaw.
  source:
    description: C(fetch) asks the CA for the longest-lived valid answer; C(current) pins the current staple.
    type: str
    choices: [fetch, current]
    default: fetch
  attempts:
    description:
      - An optional cap on the rounds of asking per certificate with O(source=fetch). Without it the
        CA is asked until a valid answer comes or O(deadline) passes - a fixed small count fails too often
        against a responder that is mostly faulty. Retries back off from 0.25 s doubling to 2 s (faster
        than the scheduled refresh, an operator is waiting); all certificates are asked concurrently.
    type: int
attributes:
  check_mode:
    support: full
    description: Fetches and validates, reports what would be pinned or thawed, writes nothing.
  diff_mode:
    support: full
    description: The pin before and after (who, when, why, source, sha256, thisUpdate, nextUpdate, effective expiry).
  idempotent:
    support: partial
    description:
      - Thawing twice, or freezing again when no better staple comes back, changes nothing.
      - A second freeze with O(source=fetch) pins a newer answer when the CA returns one (that is the re-up).
requirements:
  - requests (O(source=fetch))
  - cryptography >= 36.0
  - prometheus_client (only with O(metrics_path))
seealso:
  - module: ocsp.stapling.ocsp_response
  - module: ocsp.stapling.ocsp_store_info
  - module: ocsp.stapling.ocsp_switch
"""

EXAMPLES = r"""
- name: Freeze every certificate on the longest-lived valid answer of the CA
  ocsp_freeze:
    store: /var/lib/ocsp-stapling
    certificates:
      - name: www.example.org
        certificate: /etc/ssl/www.example.org/fullchain.pem
    reason: "CA responder signs with an expiring certificate (INC-2015-0820)"
    deadline: 5m

- name: Pin today's known-good staple of one certificate
  ocsp_freeze:
    store: /var/lib/ocsp-stapling
    certificates: "{{ ocsp_stapling_certificates }}"
    names: [www.example.org]
    source: current
    reason: "responder returns tryLater"

- name: Thaw everything
  ocsp_freeze:
    store: /var/lib/ocsp-stapling
    state: thawed
    reason: "CA fixed its responder"
"""

RETURN = r"""
certificates:
  description: One result per selected certificate.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The certificate's store name.
      type: str
    action:
      description:
      - pinned, replaced, kept (the pin is as good or better), not_applicable (no OCSP URL), thawed, not_frozen
        or failed.
      type: str
      sample: pinned
    changed:
      description: True when the pin was written or removed (or would be, in check mode).
      type: bool
    failed:
      description: True when nothing valid could be pinned (or the pin could not be removed).
      type: bool
    message:
      description: One summary line.
      type: str
      sample: 'www.example.org: frozen, expires 2026-03-08T11:59:00Z (167 h left)'
    pin:
      description: The pin record after the task (C(pin.json)), null when thawed.
      type: dict
    attempts:
      description: The attempts of O(source=fetch) - number, at, url, outcome, reason, codes.
      type: list
      elements: dict
diff:
  description: Per certificate name, the pin before and after (null when not frozen).
  returned: always
  type: dict
"""

import datetime

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.ocsp_staple.argspecs import AUDIT, FETCH, POLICY
from ansible.module_utils.ocsp_staple.central.audit import local_operator
from ansible.module_utils.ocsp_staple.central.freeze import FREEZE_BACKOFF, FREEZE_BACKOFF_MAX, freeze, thaw
from ansible.module_utils.ocsp_staple.central.options import RefreshOptions
from ansible.module_utils.ocsp_staple.compat import UTC
from ansible.module_utils.ocsp_staple.errors import OcspStapleError
from ansible.module_utils.ocsp_staple.requires import cryptography_problem
from ansible.module_utils.ocsp_staple.spec import CERTIFICATE_OPTIONS, parse_certificates


def _now() -> datetime.datetime:
    """The clock freeze and thaw read (timezone-aware UTC)."""
    return datetime.datetime.now(UTC)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "certificates": {"type": "list", "elements": "dict", "options": CERTIFICATE_OPTIONS},
            "state": {"type": "str", "choices": ["frozen", "thawed"], "default": "frozen"},
            **AUDIT,
            "source": {"type": "str", "choices": ["fetch", "current"], "default": "fetch"},
            "attempts": {"type": "int"},
            **POLICY,
            **FETCH,
        },
        required_if=[("state", "frozen", ("certificates", "reason"))],
        supports_check_mode=True,
    )
    problem = cryptography_problem("ocsp_freeze")
    if problem is not None:
        module.fail_json(msg=problem)
    p = module.params
    who = p["who"] or local_operator()
    try:
        specs = parse_certificates(p["certificates"]) if p["certificates"] else []
        options = RefreshOptions.from_params(
            {
                k: p[k]
                for k in (
                    "timeout",
                    "deadline",
                    "min_remaining",
                    "critical_remaining",
                    "clock_skew",
                    "proxy",
                    "metrics_path",
                    "assume_lifetime_without_next_update",
                )
            },
            check_mode=module.check_mode,
            attempts=p["attempts"],  # None (unset): no cap - ask until a valid answer or the deadline
            backoff=FREEZE_BACKOFF,
            backoff_max=FREEZE_BACKOFF_MAX,
        )
        if p["state"] == "frozen":
            outcome = freeze(
                specs,
                p["store"],
                options,
                reason=p["reason"],
                who=who,
                source=p["source"],
                names=p["names"],
                clock=_now,
            )
        else:
            outcome = thaw(
                p["store"], options, who=who, reason=p["reason"], names=p["names"], certificates=specs, clock=_now
            )
    except OcspStapleError as exc:
        module.fail_json(msg=str(exc))
    result = {
        "changed": outcome.changed,
        "certificates": outcome.as_dict()["certificates"],
        "diff": outcome.diff(),
    }
    if outcome.failed:
        module.fail_json(msg="; ".join(outcome.failures), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
