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

    # The certificates list of the central-host modules (ocsp_response, ocsp_freeze, ocsp_switch).
    CERTIFICATES = r"""
options:
  certificates:
    description: The certificates, as in the role's C(ocsp_stapling_certificates) (other keys are not accepted).
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - Store name of the certificate, one path component of 1-128 characters
            C([A-Za-z0-9][A-Za-z0-9._-]*), without C(..).
        type: str
        required: true
      certificate:
        description: PEM file of the leaf certificate; it may hold the chain, issuer second.
        type: path
        required: true
      issuer:
        description: PEM file of the issuer certificate, unless O(certificates[].certificate) holds the chain.
        type: path
      responder_url:
        description: OCSP responder URL (http or https) overriding the certificate's AIA OCSP URL.
        type: str
"""
