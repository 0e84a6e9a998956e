"""The README's code-layout table matches the tree (issue 11: keep it true)."""

from __future__ import annotations

import re

from tests.support.paths import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("## Architecture") : README.index("## The NLU pipeline")]
TABLE_PATHS = re.findall(r"^\| `([^`]+)`", SECTION, flags=re.M)


def _named_in_table() -> str:
    return " ".join(line for line in SECTION.splitlines() if line.startswith("| `"))


def test_every_package_and_module_of_bot_is_in_the_table():
    table = _named_in_table()
    missing = []
    for path in sorted((ROOT / "bot").iterdir()):
        if path.name.startswith(("_", ".")) or path.suffix not in ("", ".py"):
            continue
        name = f"bot/{path.name}" + ("/" if path.is_dir() else "")
        if f"`{name}`" not in table:
            missing.append(name)
    assert missing == [], f"add these to README's layout table: {missing}"


def test_every_path_in_the_table_exists():
    gone = [path for path in TABLE_PATHS if not (ROOT / path.rstrip("/")).exists()]
    assert TABLE_PATHS and gone == [], gone
