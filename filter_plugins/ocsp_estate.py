"""Jinja filters for estates (several clusters, several certificate lists), over the ocsp_staple core.

Thin wrappers over ``plan`` (one copy of each rule), for ``roles/ocsp_stapling/vars/main.yml``:

- ``lists | ocsp_stapling_union`` -> the certificates the central host works for: the union, by
  name, of ``{source: certificate list}`` (``estate.union_certificates``; one name must be one
  certificate, else one error naming both sources and both paths)
- ``files | ocsp_nginx_includes(certificates, deploy)`` -> per server file (``{path: text}``, read
  from the node) its text with the include line of each certificate whose entry names it as
  ``server_file`` (``node.nginxconf.add_includes``: refuses a block that sets stapling itself)
- ``names | ocsp_stapling_unknown_variables(argument_specs, extra=[])`` -> one line per
  ``ocsp_stapling_*`` name the role does not know, naming the closest known one (``estate.unknown_variables``)

Like ``ocsp_staple.py`` beside it, this file puts ``<repo>/module_utils`` on ``sys.path`` and
imports the package ``ocsp_staple`` from there (Ansible does not import module_utils on the controller).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ansible.errors import AnsibleFilterError

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in sys.path:
    sys.path.insert(0, _MODULE_UTILS)

from ocsp_staple import estate  # noqa: E402
from ocsp_staple.errors import OcspStapleError  # noqa: E402
from ocsp_staple.node import nginxconf  # noqa: E402


def ocsp_stapling_union(lists: Any) -> list[dict[str, Any]]:
    """``{source: ocsp_stapling_certificates}`` -> the union by name (``estate.union_certificates``)."""
    if not isinstance(lists, dict):
        raise AnsibleFilterError(
            f"ocsp_stapling_union: expected a mapping of host to certificate list, got {type(lists).__name__}"
        )
    try:
        return estate.union_certificates(lists)
    except OcspStapleError as exc:
        raise AnsibleFilterError(str(exc)) from None


def ocsp_stapling_unknown_variables(names: Any, argument_specs: Any, extra: Any = ()) -> list[str]:
    """The ``ocsp_stapling_*`` names no entry point of ``argument_specs`` (the role's meta file) nor ``extra`` knows."""
    filter_name = "ocsp_stapling_unknown_variables"
    specs = argument_specs.get("argument_specs") if isinstance(argument_specs, dict) else None
    if not isinstance(specs, dict) or not isinstance(names, list):
        raise AnsibleFilterError(f"{filter_name}: expected a list of names and the parsed meta/argument_specs.yml")
    known = {str(option) for entry in specs.values() for option in (entry.get("options") or {})}
    return estate.unknown_variables([str(name) for name in names], known | {str(name) for name in extra or ()})


def ocsp_nginx_includes(files: Any, certificates: Any, deploy: Any) -> list[dict[str, Any]]:
    """``[{path, content, changed, added}]`` for every ``server_file`` of ``certificates``.

    ``files`` maps each server file to its text; ``deploy`` is the node's work list (``snippet_path``
    and the certificate's path on the node, by name).
    """
    filter_name = "ocsp_nginx_includes"
    if not isinstance(files, dict) or not isinstance(certificates, list) or not isinstance(deploy, list):
        raise AnsibleFilterError(f"{filter_name}: expected {{path: text}}, the certificate list and the deploy list")
    work = {item["name"]: item for item in deploy}
    wants: dict[str, list[nginxconf.Want]] = {}
    for cert in certificates:
        if cert.get("server_file") and cert.get("name") in work:
            item = work[cert["name"]]
            want = nginxconf.Want(item["name"], item["certificate"], item["snippet_path"])
            wants.setdefault(str(cert["server_file"]), []).append(want)
    out = []
    try:
        for path, wanted in wants.items():
            if path not in files:
                raise AnsibleFilterError(f"{filter_name}: server_file {path} was not read from the node")
            edit = nginxconf.add_includes(str(files[path]), path, wanted)
            out.append({"path": path, "content": edit.text, "changed": bool(edit.added), "added": edit.added})
    except OcspStapleError as exc:
        raise AnsibleFilterError(str(exc)) from None
    return out


class FilterModule:
    """ocsp_stapling_union, ocsp_stapling_unknown_variables, ocsp_nginx_includes."""

    def filters(self) -> dict[str, Any]:
        return {
            "ocsp_stapling_union": ocsp_stapling_union,
            "ocsp_stapling_unknown_variables": ocsp_stapling_unknown_variables,
            "ocsp_nginx_includes": ocsp_nginx_includes,
        }
