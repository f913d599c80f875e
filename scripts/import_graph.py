"""Print the internal import graph of dialer/ and providers/: each module, then the
project modules it imports (from the source, without importing anything).

    python scripts/import_graph.py [ROOT] | grep -E '^dialer\\.(calendar|lifecycle|outcomes):'

Used to check the house's seams (issue 11): the rules import nothing of the store, the
providers nothing of the engine or the config loader.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PROJECT = ("dialer", "providers")


def module_name(root: Path, path: Path) -> str:
    name = ".".join(path.relative_to(root).with_suffix("").parts)
    return name.removesuffix(".__init__")


def imports_of(root: Path, path: Path) -> list[str]:
    """The project modules `path` imports (absolute and relative imports)."""
    package = module_name(root, path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] in PROJECT)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                found.add(".".join([*base, *([node.module] if node.module else [])]))
            elif node.module and node.module.split(".")[0] in PROJECT:
                found.add(node.module)
    return sorted(found)


def main(root: Path) -> None:
    paths = sorted(p for top in PROJECT for p in (root / top).rglob("*.py"))
    for path in paths:
        print(f"{module_name(root, path)}: {', '.join(imports_of(root, path))}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
