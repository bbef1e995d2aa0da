"""Count code lines per Python file: lines that are not blank, not a comment and not a docstring.

A docstring is the first statement of a module, class or function body when that statement is a
string. Without an argument it counts the package outside ``testing/``; with paths, every ``.py``
file under them.

    python scripts/count_lines.py                      # the package outside testing/
    python scripts/count_lines.py airflow_provider_pinpoint/testing
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "airflow_provider_pinpoint"


def docstring_lines(tree: ast.AST) -> set[int]:
    """The line numbers that docstrings take up, anywhere in ``tree``."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return lines


def code_lines(source: str) -> int:
    """How many lines of ``source`` hold code: a token other than a comment, outside docstrings."""
    skipped = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skipped and token.type != tokenize.ENDMARKER:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docstring_lines(ast.parse(source)))


def files(paths: list[Path]) -> list[Path]:
    """The ``.py`` files to count: those under ``paths``, or the package outside ``testing/``."""
    if paths:
        return sorted(p for path in paths for p in ([path] if path.is_file() else path.rglob("*.py")))
    return sorted(p for p in PACKAGE.rglob("*.py") if "testing" not in p.relative_to(PACKAGE).parts)


def main(argv: list[str]) -> int:
    """Print each file's count and the total; a path that does not exist is an error (exit 2)."""
    if any(arg.startswith("-") for arg in argv) or any(not Path(arg).exists() for arg in argv):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print(f"usage: python scripts/count_lines.py [PATH ...]; no such path in {argv}", file=sys.stderr)
        return 2
    total = 0
    for path in files([Path(arg) for arg in argv]):
        count = code_lines(path.read_text(encoding="utf-8"))
        total += count
        shown = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
        print(f"{count:6d}  {shown}")
    print(f"{total:6d}  total")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
