"""Documentation shared by the modules that validate a staple against a certificate pair."""

from __future__ import annotations


class ModuleDocFragment:
    # The certificate pair and the policy thresholds (module_utils/ocsp_staple/policy.py).
    DOCUMENTATION = r"""
options:
  certificate:
    description:
      - PEM file of the leaf certificate on the target. It may hold the chain, issuer second.
    type: path
    required: true
  issuer:
    description:
      - PEM file of the issuer (CA) certificate. Optional when O(certificate) holds the chain.
    type: path
  name:
    description: Name used in problem messages (default the leaf's subject).
    type: str
  min_remaining:
    description: Least effective lifetime the staple must have left, as seconds or a duration like C(4h).
    type: str
    default: "4h"
  clock_skew:
    description: Tolerated clock difference for thisUpdate and signer notBefore (seconds or duration).
    type: str
    default: "5m"
"""
