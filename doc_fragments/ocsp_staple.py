# Copyright: (c) 2026, ocsp-stapling maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Documentation the modules share: each shared option is described once, here.

The option fragments follow the argument_spec pieces of module_utils/ocsp_staple/argspecs.py
(``ocsp_staple`` documents ``PAIR``, ``ocsp_staple.policy`` ``POLICY``, ``ocsp_staple.store``
``STORE``, ``ocsp_staple.audit`` ``AUDIT``, ``ocsp_staple.fetch`` ``FETCH``, ``ocsp_staple.files``
``FILES``; ``ocsp_staple.certificates`` documents spec.CERTIFICATE_OPTIONS). A module lists the
fragments of the pieces its argument_spec joins under ``extends_documentation_fragment`` and may
override a description in its own ``options``: Ansible merges each option's keys, the module's
winning. Each fragment is one literal string (ansible-test reads them without running Python), so
no text is shared between fragments: a piece two modules need is its own fragment. Return values
are not shared here: ansible-core 2.19 (the newest on Python 3.11, which the project supports) does
not merge fragments into ``RETURN``, so each module documents its own.
"""

from __future__ import annotations


class ModuleDocFragment:
    # The certificate pair a staple is judged against (argspecs.PAIR).
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
"""

    # The thresholds of the validation policy, module_utils/ocsp_staple/policy.py (argspecs.POLICY).
    POLICY = r"""
options:
  min_remaining:
    description:
      - Least effective lifetime (min(nextUpdate, signer notAfter)) a staple must have left to be
        valid, as seconds or a duration like C(4h).
    type: str
    default: "4h"
  clock_skew:
    description: Tolerated clock difference for thisUpdate and the signer's notBefore (seconds or a duration).
    type: str
    default: "5m"
  assume_lifetime_without_next_update:
    description:
      - Accept an OCSP answer without nextUpdate as ending this long after its thisUpdate (seconds or a
        duration like C(1h)); that end then takes nextUpdate's place in the effective expiry, the facts and
        every message. For private responders only (C(openssl ocsp) without C(-ndays) omits nextUpdate).
      - Default off - an answer without nextUpdate is refused, because nothing bounds how long such a staple
        claims to be good (RFC 6960 lets a client treat it as valid indefinitely).
      - In a module with a C(certificates) list, for every certificate without its own
        C(assume_lifetime_without_next_update); the role passes its per-certificate setting to the nodes'
        re-validation too.
    type: str
"""

    # The certificates list of the central-host modules (ocsp_response, ocsp_freeze, ocsp_switch;
    # spec.CERTIFICATE_OPTIONS).
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
        description:
          - OCSP responder URL (http or https) overriding the certificate's AIA OCSP URLs; it is then the only
            URL asked.
          - Without it every AIA OCSP URL of the certificate is asked, in order, until one gives a valid answer.
        type: str
      assume_lifetime_without_next_update:
        description:
          - Accept an OCSP answer without nextUpdate for this certificate as ending this long after its
            thisUpdate (seconds or a duration like C(1h)), as the module-wide
            C(assume_lifetime_without_next_update) does for every certificate where the module has that
            option (its description explains the effect); this setting overrides it.
          - Default off - an answer without nextUpdate is refused.
        type: str
"""

    # The central store directory (argspecs.STORE).
    STORE = r"""
options:
  store:
    description: Directory of the central store.
    type: path
    required: true
"""

    # How ocsp_response and ocsp_freeze ask the CA, judge its answers and report (argspecs.FETCH).
    FETCH = r"""
options:
  timeout:
    description: Time limit of one attempt (seconds or a duration like C(10s)).
    type: str
    default: "10s"
  deadline:
    description: Time limit of the whole task, all certificates and attempts included.
    type: str
    default: "120s"
  critical_remaining:
    description: The metrics mark a certificate failed when its deployed staple has less than this left.
    type: str
    default: "6h"
  proxy:
    description:
      - HTTP(S) proxy URL for the responder requests. Without it the usual C(http_proxy),
        C(https_proxy) and C(no_proxy) environment variables apply.
    type: str
  metrics_path:
    description: Write a Prometheus textfile (node_exporter textfile collector) here after the task; not in check mode.
    type: path
"""

    # Who changes the central store, for which certificates and why: ocsp_freeze, ocsp_switch
    # (argspecs.AUDIT; they list ocsp_staple.store too).
    AUDIT = r"""
options:
  names:
    description: Names of the certificates the task applies to.
    type: list
    elements: str
  reason:
    description: Why, recorded with the change.
    type: str
  who:
    description:
      - Who acts, recorded with the change. Default - C(SUDO_USER), C(USER) or C(LOGNAME) of the module's
        environment on the central host, with its host name. The playbooks pass the controller's user and host.
    type: str
"""

    # Owner, group and mode of the staple files: ocsp_staple, ocsp_deploy (argspecs.FILES).
    FILES = r"""
options:
  owner:
    description:
      - User name or uid that should own the staple file(s). When omitted an existing file keeps its owner
        and a new file belongs to the user the module runs as.
    type: str
  group:
    description: Group name or gid of the staple file(s). When omitted an existing file keeps its group.
    type: str
  mode:
    description: Permission bits of the staple file(s) as an octal string. Symbolic modes are not supported.
    type: str
    default: "0644"
"""
