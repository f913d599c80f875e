"""The test suite's own layout: fixtures come from conftest.py files and helpers from
`tests.support`, so no test module imports another test module or a conftest."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# Imports the acceptance suite keeps because its files may not change beyond their import
# lines (issue 11): these helpers are defined in the acceptance test modules themselves.
KEPT = {
    ("tests/acceptance/test_postgres_workers.py", "tests.acceptance.test_crash_safety"),
    ("tests/acceptance/test_report_folder.py", "tests.acceptance.test_daemon"),
}


def imported_modules(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in the file, at any depth."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from tests.integration import test_rules` names a module too.
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return sorted(found)


def forbidden(module: str) -> bool:
    """A test module or a conftest of this suite."""
    parts = module.split(".")
    return parts[0] == "tests" and (parts[-1].startswith("test_") or parts[-1] == "conftest")


def offences(root: Path = TESTS) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for line, module in imported_modules(tree):
            if forbidden(module) and (rel, module) not in KEPT:
                out.append(f"{rel}:{line} imports {module}")
    return out


def test_no_test_module_imports_another_test_module_or_a_conftest() -> None:
    found = offences()
    assert not found, "fixtures belong in a conftest.py, helpers in tests/support/:\n" + "\n".join(found)


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    suite = tmp_path / "tests"
    (suite / "unit").mkdir(parents=True)
    (suite / "unit" / "test_a.py").write_text("def helper() -> None: ...\n", encoding="utf-8")
    (suite / "unit" / "test_b.py").write_text(
        "from tests.support.paths import ROOT\n"
        "def f() -> None:\n    from tests.unit.test_a import helper\n"
        "from tests import conftest\n",
        encoding="utf-8",
    )
    assert offences(suite) == [
        "tests/unit/test_b.py:3 imports tests.unit.test_a",
        "tests/unit/test_b.py:4 imports tests.conftest",
    ]


def test_kept_imports_still_exist() -> None:
    """An exception that no longer applies is removed from KEPT, not left to hide a new one."""
    for rel, module in KEPT:
        tree = ast.parse((TESTS.parent / rel).read_text(encoding="utf-8"))
        assert module in {m for _, m in imported_modules(tree)}, (rel, module)
