"""The text catalog (bot.texts): every key the code uses exists in each language."""

from __future__ import annotations

import ast
import string
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

from bot.texts import DEFAULT_LANGUAGE, MissingText, catalog, text

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    *sorted((ROOT / "bot").rglob("*.py")),
    *sorted((ROOT / "actions").rglob("*.py")),
]
LANGUAGES = sorted(p.stem for p in (ROOT / "bot" / "texts").glob("*.yml"))


def _keys(node: ast.AST, constants: Dict[str, str]) -> Iterator[str]:
    """The literal keys of an argument: a string, a module-level string constant, or
    both sides of `a if c else b`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.Name) and node.id in constants:
        yield constants[node.id]
    elif isinstance(node, ast.IfExp):
        yield from _keys(node.body, constants)
        yield from _keys(node.orelse, constants)
    else:
        raise AssertionError(f"text key not a literal: {ast.unparse(node)}")


def used_keys() -> List[Tuple[str, str, List[str]]]:
    """(module, key, placeholders passed) of every `bot.texts.text` call in the code."""
    found = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        names = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "bot.texts"
            for alias in node.names
            if alias.name == "text"
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in names
                and node.args
            ):
                passed = sorted(k.arg for k in node.keywords if k.arg != "language")
                for key in _keys(node.args[0], constants):
                    found.append((str(path.relative_to(ROOT)), key, passed))
    return found


def test_the_code_uses_the_catalog():
    modules = {module for module, _, _ in used_keys()}
    assert "bot/channels/sms/keywords.py" in modules
    assert "bot/channels/socketio.py" in modules


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_the_code_uses_exists(language):
    texts = catalog(language)
    missing = [(m, k) for m, k, _ in used_keys() if k not in texts]
    assert not missing, f"not in {language}.yml: {missing}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_gets_the_placeholders_it_needs(language):
    texts = catalog(language)
    for module, key, passed in used_keys():
        needed = sorted(
            {name for _, name, _, _ in string.Formatter().parse(texts[key]) if name}
        )
        assert needed == passed, f"{module}: {key} needs {needed}, gets {passed}"


def test_every_language_has_the_same_keys():
    default = set(catalog(DEFAULT_LANGUAGE))
    for language in LANGUAGES:
        assert set(catalog(language)) == default, language


def test_a_missing_key_is_an_error_that_names_it():
    with pytest.raises(MissingText, match="sms.nope"):
        text("sms.nope")
    assert text("chat.too_fast", seconds=3, unit="seconds").startswith("You are")
