"""Security properties (issue 7), each a test that fails when the property is lost.

* No production code path opens a private key: refresh (fetch + store + metrics), the store
  view the role reads, deploy (plan_install / apply_install), the check command on a file and
  on a live nginx endpoint run under an audit hook that records every ``open``; no opened
  path is a ``*.key`` file or holds a PEM private key. Test tooling is excluded: the test
  responder signs with keys made in memory by ``forge`` (never read from disk here), and
  nginx (another process) reads its own key.
* File modes: store files 0644 and directories 0755 as docs/STORE.md says, whatever the
  umask; a staple gets exactly the mode asked for (the role's ``ocsp_stapling_staple_mode``).
* No shell anywhere: no ``ansible.builtin.shell`` / ``raw``, no ``shell=True``, no
  ``os.system`` / ``os.popen`` in the repository's Python and YAML.
* Certificate names cannot escape their directories; responder URLs are http/https only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from ocsp_staple import cli
from ocsp_staple.aia import ocsp_request
from ocsp_staple.central.fetch import Fetcher, FetchOptions
from ocsp_staple.central.options import RefreshOptions
from ocsp_staple.central.refresh import run
from ocsp_staple.central.store import Store, deploy_view
from ocsp_staple.errors import InputError
from ocsp_staple.names import check_name
from ocsp_staple.node.install import apply_install, plan_install
from ocsp_staple.spec import CertificateSpec, check_url

from testbed.ocsp_responder import TestResponder

from ..conftest import NOW, REPO, Pki, build_pki

# --- no code path opens a private key -----------------------------------------------------------

_RECORDERS: list[list[str]] = []  # the lists recording now (at most one)


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _RECORDERS and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        _RECORDERS[-1].append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # cannot be removed: it records only while a test collects


@contextlib.contextmanager
def recording(opened: list[str]) -> Iterator[None]:
    """Record every path this process opens inside the block into ``opened``."""
    _RECORDERS.append(opened)
    try:
        yield
    finally:
        _RECORDERS.remove(opened)


def holds_private_key(path: str) -> bool:
    if path.endswith(".key"):
        return True
    try:
        with open(path, "rb") as handle:
            return b"PRIVATE KEY-----" in handle.read(1 << 20)
    except OSError:
        return False


@pytest.fixture
def key_material(pki: Pki, tmp_path: Path) -> dict[str, str]:
    """Certificates with their keys beside them, as on a real host (leaf.key, and a combined PEM)."""
    (tmp_path / "leaf.pem").write_bytes(pki.leaf.pem + pki.ca.pem)
    (tmp_path / "leaf.key").write_bytes(pki.leaf.key_pem())
    (tmp_path / "combined.pem").write_bytes(pki.leaf.pem + pki.ca.pem + pki.leaf.key_pem())
    return {"chain": str(tmp_path / "leaf.pem"), "combined": str(tmp_path / "combined.pem")}


@pytest.mark.integration
def test_no_code_path_opens_a_private_key(
    key_material: dict[str, str], pki: Pki, responder: TestResponder, tmp_path: Path
) -> None:
    from ocsp_staple.certs import load_pair

    from testbed.fleet import Site, running_fleet

    store = tmp_path / "store"
    specs = [
        CertificateSpec("www", key_material["chain"], None, responder.url),
        CertificateSpec("combined", key_material["combined"], None, responder.url),
    ]
    dest = tmp_path / "node" / "www.der"
    dest.parent.mkdir()
    opened: list[str] = []
    with recording(opened):
        # refresh (fetch, validate, store, metrics), the store view the role reads, deploy, check on a file
        options = RefreshOptions(metrics_path=str(tmp_path / "metrics.prom"))
        outcome = run(specs, str(store), options, clock=lambda: NOW)
        staple = deploy_view(str(store), "combined")["staple"]
        assert isinstance(staple, bytes)
        apply_install(plan_install(staple, load_pair(key_material["combined"]), dest=str(dest), now=NOW))
        status = cli.main(["check", "--file", str(dest), "--cert", key_material["combined"], "-w", "1s", "-c", "1s"])
    assert [c.action for c in outcome.certificates] == ["updated", "updated"]
    assert status in (0, 2)  # judged on the wall clock: the test PKI's staple may be long expired

    # Live: the TLS client against an nginx node (nginx, another process, reads its key itself).
    live = build_pki("ec", now=dt.datetime.now(dt.UTC).replace(microsecond=0))
    chain, key = tmp_path / "live-chain.pem", tmp_path / "live-key.pem"
    chain.write_bytes(live.leaf.pem + live.ca.pem)
    key.write_bytes(live.leaf.key_pem())
    with running_fleet(tmp_path / "fleet", sites=[Site("www", str(chain), str(key), "www.example.org")]) as fleet:
        node = fleet.nodes[0]
        node.set_stapling("www", live.response())
        node.reload()
        with recording(opened):
            status = cli.main(["check", "--connect", node.endpoint, "--servername", "www.example.org"])
    assert status == 0

    # The only file with a key that was opened is the certificate file the caller named, which bundles
    # its key (as some setups do): only its CERTIFICATE blocks are parsed, and no key byte goes anywhere.
    assert sorted({p for p in opened if holds_private_key(p)}) == [key_material["combined"]]
    written = [dest, tmp_path / "metrics.prom", *(p for p in store.rglob("*") if p.is_file())]
    assert written
    key_der = pki.leaf.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert [p for p in written if b"PRIVATE KEY" in p.read_bytes() or key_der in p.read_bytes()] == []


# --- file modes -----------------------------------------------------------------------------------


@pytest.fixture
def strict_umask() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def test_store_files_are_0644_and_directories_0755_whatever_the_umask(
    strict_umask: None, pki_files: dict[str, str], responder: TestResponder, tmp_path: Path
) -> None:
    responder.configure(sequence=["try_later", "good"])
    store = tmp_path / "store"
    run(
        [CertificateSpec("www", pki_files["chain"], None, responder.url)],
        str(store),
        RefreshOptions(attempts=2, backoff=0.01),
        clock=lambda: NOW,
    )
    entries = [store, *store.rglob("*")]
    assert any(p.name == "current.der" for p in entries)
    assert any(p.parent.name == "quarantine" for p in entries)
    wrong = {
        str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in entries
        if stat.S_IMODE(p.stat().st_mode) != (0o755 if p.is_dir() else 0o644)
    }
    assert wrong == {}


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600])
def test_a_staple_gets_exactly_the_mode_asked_for(strict_umask: None, mode: int, pki: Pki, tmp_path: Path) -> None:
    dest = tmp_path / "www.der"
    apply_install(plan_install(pki.response(), pki.pair, dest=str(dest), now=NOW, mode=mode))
    assert stat.S_IMODE(dest.stat().st_mode) == mode


# --- no shell ---------------------------------------------------------------------------------------

SKIP_DIRS = {".git", ".venv", ".venv311", ".venv-node", ".venv-sanity", ".tmp", "build", "__pycache__", ".cache"}
# Written split so that this file does not match itself.
FORBIDDEN_PY = [
    re.compile(p)
    for p in (
        r"shell\s*=\s*True",
        r"\bos\.sys" + r"tem\(",
        r"\bos\.po" + r"pen\(",
        r"getstatus" + r"output|getoutput\(",
    )
]
FORBIDDEN_YAML = [
    re.compile(p)
    for p in (
        r"ansible\.builtin\.(shell|raw)\b",
        r"^\s*-?\s*(shell|raw|ansible\.legacy\.shell)\s*:",
        r"\bcommand\s*:\s*[^\n{]*[|;&]",
    )
]


def repository_files(*suffixes: str) -> list[Path]:
    found = []
    for directory, subdirs, files in os.walk(REPO):
        subdirs[:] = [d for d in subdirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        found += [Path(directory) / f for f in files if f.endswith(suffixes) and Path(directory) / f != Path(__file__)]
    return found


def test_no_shell_in_python_or_yaml() -> None:
    python = repository_files(".py")
    yaml = repository_files(".yml", ".yaml", ".j2")
    assert len(python) > 20
    assert len(yaml) > 10
    hits = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for files, patterns in ((python, FORBIDDEN_PY), (yaml, FORBIDDEN_YAML))
        for path in files
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if any(p.search(line) for p in patterns)
    ]
    assert hits == []


def test_the_shell_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The patterns are not vacuous: each catches its example."""
    assert all(
        p.search(line)
        for p, line in zip(
            FORBIDDEN_PY,
            ["run(x, shell=True)", "os.sys" + "tem('ls')", "os.po" + "pen('ls')", "subprocess.getoutput('ls')"],
            strict=True,
        )
    )
    assert all(
        p.search(line)
        for p, line in zip(
            FORBIDDEN_YAML, ["  ansible.builtin.sh" + "ell: ls", "    shell: ls", "  command: ls | wc"], strict=True
        )
    )


# --- names cannot escape, URLs are http/https only -----------------------------------------------------

EVIL_NAMES = [
    "..",
    ".",
    "../etc",
    "a/../../b",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "",
    ".hidden",
    "-rf",
    "a\0b",
    "x" * 129,
    "ü.example",
    "a b",
    "www..example",
]


@pytest.mark.parametrize("name", EVIL_NAMES)
def test_a_certificate_name_cannot_escape_its_directory(name: str, tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    with pytest.raises(InputError, match="certificate name"):
        check_name(name)
    with pytest.raises(InputError):
        store.path(name, "current.der")
    with pytest.raises(InputError):
        deploy_view(str(tmp_path / "store"), name)
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("name", ["www.example.org", "a", "A-1_b.c", "x" * 128])
def test_a_good_name_stays_under_the_store(name: str, tmp_path: Path) -> None:
    root = tmp_path / "store"
    path = Store(str(root)).path(name, "current.der")
    assert os.path.commonpath([str(root), os.path.realpath(path)]) == str(root)


BAD_URLS = [
    "file:///etc/passwd",
    "ftp://127.0.0.1/",
    "ldap://127.0.0.1/",
    "gopher://127.0.0.1/",
    "data:text/plain,x",
    "javascript:alert(1)",
    "127.0.0.1:80/",
    "http:///no-host",
    "//127.0.0.1/",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_responder_urls_are_http_or_https_only(url: str, pki: Pki) -> None:
    with pytest.raises(InputError, match=r"not allowed|no host"):
        check_url(url)
    with Fetcher(FetchOptions(timeout=1)) as fetcher, pytest.raises(InputError):
        fetcher.fetch(url, ocsp_request(pki.pair))  # the fetcher checks again: no caller can skip it
