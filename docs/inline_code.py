"""Keep the code shown in the docs pages identical to the tested files it comes from.

The pages show their code inline, so that they read the same on GitHub as on the site; the code
itself lives in files that the test suite runs (``docs/examples/``, ``examples/``, the test
Django project). Each inline block is announced by a comment naming its source::

    <!-- code: docs/examples/handlers.py:typed -->
    ```python
    ...the lines between "# --8<-- [start:typed]" and "# --8<-- [end:typed]" in that file...
    ```

``python docs/inline_code.py`` rewrites every announced block from its source; with ``--check``
it changes nothing and exits 1 naming each block that differs (``tests/test_docs.py`` runs the
check). A source is a whole file, or a section of it between ``--8<-- [start:NAME]`` and
``--8<-- [end:NAME]`` markers (the marker lines are never shown; a section is dedented).
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).parent.parent
PAGES = sorted([*(ROOT / "docs").glob("**/*.md"), ROOT / "README.md"])

_ANNOUNCE = re.compile(r"^(?P<indent> *)<!-- code: (?P<source>\S+) -->$")
_MARKER = re.compile(r"--8<-- \[(?:start|end):[\w-]+\]")


def source_text(source: str) -> str:
    """The lines ``source`` (``path`` or ``path:section``) stands for, as a page shows them."""
    path, _, section = source.partition(":")
    lines = (ROOT / path).read_text().splitlines()
    if section:
        start = next(i for i, line in enumerate(lines) if f"--8<-- [start:{section}]" in line)
        end = next(i for i, line in enumerate(lines) if f"--8<-- [end:{section}]" in line)
        lines = lines[start + 1 : end]
    shown = "\n".join(line for line in lines if not _MARKER.search(line))
    return textwrap.dedent(shown).strip("\n")


def inline(page: str) -> tuple[str, list[str]]:
    """``page`` with each announced block rewritten from its source, and the sources changed."""
    out: list[str] = []
    changed: list[str] = []
    lines = page.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        announced = _ANNOUNCE.match(line)
        if not announced:
            i += 1
            continue
        indent, source = announced["indent"], announced["source"]
        fence = lines[i + 1]
        close = next(j for j in range(i + 2, len(lines)) if lines[j] == indent + "```")
        current = [text[len(indent) :] for text in lines[i + 2 : close]]
        wanted = source_text(source).split("\n")
        if current != wanted:
            changed.append(source)
        out.append(fence)
        out.extend(indent + text if text else "" for text in wanted)
        out.append(lines[close])
        i = close + 1
    return "\n".join(out), changed


def main(argv: list[str]) -> int:
    """Rewrite the announced blocks (or, with ``--check``, name those that differ)."""
    check = "--check" in argv
    stale = []
    for path in PAGES:
        text = path.read_text()
        updated, changed = inline(text)
        stale += [f"{path.relative_to(ROOT)}: {source}" for source in changed]
        if changed and not check:
            path.write_text(updated)
    if check and stale:
        print("inline code differs from its source (run python docs/inline_code.py):")
        print("\n".join(f"  {line}" for line in stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
