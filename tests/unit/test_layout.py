"""The layout bars of issue 11, checked on the tree so they stay met.

Test modules take their helpers from `tests/support/`, never from a `conftest.py`
(pytest may load a conftest under another module name than the one imported, so
shared state would split in two); no module in `bot/` or `actions/` is over 400
lines; only `bot/settings/` reads the environment.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, List

from tests.support.paths import ROOT

MAX_LINES = 400
SETTINGS = ROOT / "bot" / "settings"
ENVIRONMENT_READERS = {"environ", "environb", "getenv", "getenvb"}


def python_files(*folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def imported_modules(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def environment_reads(tree: ast.AST) -> List[int]:
    """Lines that read the environment: `os.environ`, `os.getenv`, `from os import
    environ` (whatever the alias)."""
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ENVIRONMENT_READERS
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            if any(alias.name in ENVIRONMENT_READERS for alias in node.names):
                lines.append(node.lineno)
    return sorted(lines)


def test_no_test_module_imports_from_a_conftest():
    offenders = [
        f"{relative(path)}: {module}"
        for path in python_files("tests")
        for module in imported_modules(ast.parse(path.read_text()))
        if "conftest" in module.split(".")
    ]
    assert offenders == [], "import helpers from tests/support/ instead"


def test_the_checks_see_a_conftest_import_and_an_environment_read():
    tree = ast.parse(
        "from tests.conftest import ROOT\n"
        "import tests.console.conftest\n"
        "import os\n"
        "from os import environ as env\n"
        "x = os.getenv('A')\n"
        "y = os.environ['B']\n"
        "def f(environ): return environ\n"
    )
    assert {"tests.conftest", "tests.console.conftest"} <= set(imported_modules(tree))
    assert environment_reads(tree) == [4, 5, 6]


def test_no_module_of_bot_or_actions_is_over_400_lines():
    long = {
        relative(path): lines
        for path in python_files("bot", "actions")
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_only_the_settings_package_reads_the_environment():
    readers = {
        relative(path): lines
        for path in python_files("bot", "actions")
        if SETTINGS not in path.parents
        if (lines := environment_reads(ast.parse(path.read_text())))
    }
    assert readers == {}, "read settings through bot.settings"


def test_no_two_test_modules_share_a_file_name():
    """pytest imports test modules by file name (no packages): a second
    `test_x.py` elsewhere stops the whole run at collection."""
    seen: dict = {}
    for path in python_files("tests"):
        if path.name.startswith("test_"):
            seen.setdefault(path.name, []).append(relative(path))
    assert {name: where for name, where in seen.items() if len(where) > 1} == {}
