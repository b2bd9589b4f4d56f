"""Point imports of names that left ``lmstream`` at their new home (``lmstream.MOVED``).

    python tools/repoint_imports.py PATH... [--check]

For every ``.py`` file under the PATHs: ``from lmstream import A, B`` is split so that moved
names come from ``lmstream.backend`` / ``lmstream.plugin`` (aliases kept; the statement's
comments go on each new statement), and ``lmstream.Name`` becomes ``lmstream.backend.Name`` /
``lmstream.plugin.Name`` (``import lmstream`` loads both surfaces). Run ``ruff check --fix``
afterwards: it sorts the new import lines and drops a copied ``noqa`` that one of them no
longer needs. ``--check`` changes nothing and exits 1 when a file would change.
Third-party plugins can run it on their own code before the old names go away.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Mapping
from pathlib import Path

LINE = 100


def _import_lines(node: ast.ImportFrom, indent: str, moved: Mapping[str, str],
                  comment: str) -> str:
    """One import statement per home, each with the old statement's comment on its first line."""
    groups: dict[str, list[str]] = {}
    for alias in node.names:
        home = moved.get(alias.name, "lmstream")
        name = alias.name + (f" as {alias.asname}" if alias.asname else "")
        groups.setdefault(home, []).append(name)
    text = ""
    for home, names in groups.items():
        note = f"  {comment}" if comment else ""
        one = f"{indent}from {home} import {', '.join(names)}{note}\n"
        if len(one) > LINE + len(note):
            one = (f"{indent}from {home} import ({note}\n"
                   + "".join(f"{indent}    {name},\n" for name in names) + f"{indent})\n")
        text += one
    return text


def repoint(source: str, moved: Mapping[str, str]) -> str:
    """``source`` with every use of a moved name pointed at its new home."""
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, int, int, str]] = []  # (line, col, end line, end col, text)
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "lmstream"
                and any(alias.name in moved for alias in node.names)):
            first = lines[node.lineno - 1]
            indent = first[: len(first) - len(first.lstrip())]
            assert node.end_lineno is not None and node.end_col_offset is not None
            comment = "  ".join(line[line.index("#"):].rstrip()  # no strings in an import
                                for line in lines[node.lineno - 1:node.end_lineno] if "#" in line)
            text = _import_lines(node, indent, moved, comment)
            last = lines[node.end_lineno - 1]
            edits.append((node.lineno, 0, node.end_lineno, len(last), text))
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "lmstream" and node.attr in moved):
            assert node.end_lineno is not None and node.end_col_offset is not None
            edits.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset,
                          f"{moved[node.attr]}.{node.attr}"))
    for line, col, end_line, end_col, text in sorted(edits, reverse=True):
        before = lines[line - 1][:col]
        after = lines[end_line - 1][end_col:]
        lines[line - 1:end_line] = [before + text + after]
    return "".join(lines)


def main(argv: list[str]) -> int:
    """Rewrite (or with ``--check`` only list) the files that use moved names."""
    import lmstream

    check = "--check" in argv
    paths = [Path(a) for a in argv if a != "--check"]
    files = sorted(f for p in paths for f in ([p] if p.is_file() else p.rglob("*.py")))
    changed = []
    for path in files:
        source = path.read_text()
        new = repoint(source, lmstream.MOVED)
        if new != source:
            changed.append(path)
            if not check:
                path.write_text(new)
    for path in changed:
        print(path)
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
