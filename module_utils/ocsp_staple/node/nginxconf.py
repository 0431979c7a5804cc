"""The include line of a certificate's stapling snippet in the user's own nginx server blocks.

The role renders ``ocsp-<name>.conf``; the user's ``server {}`` block has to include it. With
``ocsp_stapling_nginx_manage_include`` the role adds that line itself, and this module decides
where: into every ``server {}`` block of the given file whose ``ssl_certificate`` is the
certificate's path on the node, right after that directive, with its indentation. A block that
sets ``ssl_stapling`` or ``ssl_stapling_file`` itself is refused with the file and line (nginx
would say "directive is duplicate", or the two would fight). Plain text in, plain text out: the
role writes the file, runs ``nginx -t`` and puts the old file back when the test fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ..errors import InputError

_TOKEN = re.compile(r"""\#[^\n]*|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[{};]|[^\s{};#"']+""")
#: Directives the snippet sets; a server block holding one of them is refused.
OWN = ("ssl_stapling", "ssl_stapling_file")
MARK = "# ocsp-stapling: managed include"


@dataclass
class Directive:
    name: str
    args: list[str]
    line: int  # 1-based line of the directive's name
    block: list[Directive] | None = None  # the directives inside ``{ }`` (None for a simple directive)


@dataclass
class Want:
    """One certificate's include: its name, its certificate path on the node and its snippet path."""

    name: str
    certificate: str
    snippet: str


@dataclass
class Edit:
    text: str
    added: list[str] = field(default_factory=list)  # "<name>: line N" for every include added


def _tokens(text: str) -> Iterator[tuple[str, int, bool]]:
    line = 1
    position = 0
    for match in _TOKEN.finditer(text):
        line += text.count("\n", position, match.start())
        position = match.start()
        token = match.group()
        if not token.startswith("#"):
            quoted = token[0] in "\"'"
            yield (token[1:-1] if quoted else token), line, quoted


def parse(text: str, path: str) -> list[Directive]:
    """The directives of an nginx config file, nested by block; refuses unbalanced braces."""
    stack: list[list[Directive]] = [[]]
    words: list[tuple[str, int]] = []
    for word, line, quoted in _tokens(text):
        if quoted:
            words.append((word, line))
        elif word in (";", "{"):
            if not words:
                raise InputError(f"{path}:{line}: nginx config: {word!r} without a directive")
            directive = Directive(words[0][0], [w for w, _line in words[1:]], words[0][1])
            stack[-1].append(directive)
            if word == "{":
                directive.block = []
                stack.append(directive.block)
            words = []
        elif word == "}":
            if words or len(stack) == 1:
                raise InputError(f"{path}:{line}: nginx config: unexpected '}}'")
            stack.pop()
        else:
            words.append((word, line))
    if words or len(stack) != 1:
        raise InputError(f"{path}: nginx config: unexpected end of file (a ';' or '}}' is missing)")
    return stack[0]


def servers(directives: Sequence[Directive]) -> Iterator[Directive]:
    """Every ``server {}`` block, at any depth (``http { server { } }`` or a file of server blocks)."""
    for directive in directives:
        if directive.block is None:
            continue
        if directive.name == "server":
            yield directive
        else:
            yield from servers(directive.block)


def add_includes(text: str, path: str, wants: Sequence[Want]) -> Edit:
    """``text`` with ``include <snippet>;`` in each server block of each wanted certificate.

    Idempotent: a block that already includes the snippet is left alone. Raises InputError
    naming the file and line for a block that sets stapling itself, and naming the file when no
    block serves the certificate.
    """
    blocks = list(servers(parse(text, path)))
    inserts: dict[int, list[str]] = {}  # after 1-based line -> lines to add
    added: list[str] = []
    lines = text.splitlines(keepends=True)
    for want in wants:
        found = False
        for block in blocks:
            inner = block.block or []
            certificates = [d for d in inner if d.name == "ssl_certificate" and d.args[:1] == [want.certificate]]
            if not certificates:
                continue
            found = True
            own = [d for d in inner if d.name in OWN]
            if own:
                first = own[0]
                raise InputError(
                    f"{path}:{first.line}: the server block of {want.name} sets '{first.name} "
                    f"{' '.join(first.args)};' itself: remove it, the included {want.snippet} sets stapling"
                )
            if any(d.name == "include" and d.args[:1] == [want.snippet] for d in inner):
                continue
            at = certificates[0].line
            indent = re.match(r"\s*", lines[at - 1]).group() if at <= len(lines) else ""  # type: ignore[union-attr]
            inserts.setdefault(at, []).append(f"{indent}include {want.snippet};  {MARK}\n")
            added.append(f"{want.name}: line {at + 1}")
        if not found:
            raise InputError(
                f"{path}: no server block has 'ssl_certificate {want.certificate};' for {want.name}: "
                "point server_file at the file that serves it, or add the include yourself"
            )
    out = []
    for number, line in enumerate(lines, start=1):
        out.append(line if line.endswith("\n") or number not in inserts else line + "\n")
        out.extend(inserts.get(number, []))
    return Edit("".join(out), added)
