"""ocsp_staple: the typed core of the ocsp-stapling project.

Plain Python, no Ansible imports, relative imports only. Ansible modules import it as
``ansible.module_utils.ocsp_staple``; ``pyproject.toml`` installs the same directory as
the package ``ocsp_staple``. This file stays empty of imports on purpose: a node-side
module must only pull in what it uses (no ``requests`` on cache nodes).
"""

__version__ = "0.1.0"
