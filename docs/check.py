"""Docs check: every relative link resolves and every Python code block compiles."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

DOCS = Path(__file__).parent
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def main() -> int:
    problems: list[str] = []
    pages = sorted(DOCS.rglob("*.md")) + [DOCS.parent / "README.md"]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for target in LINK.findall(text):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).resolve().exists():
                problems.append(f"{page}: broken link {target}")
        for number, block in enumerate(BLOCK.findall(text), 1):
            try:
                compile(
                    block, f"{page}#block{number}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
                )
            except SyntaxError as exc:
                problems.append(f"{page}: python block {number} does not compile: {exc}")
    for problem in problems:
        print(problem)
    print(f"checked {len(pages)} pages: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
