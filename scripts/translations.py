"""Generate translations/en.json from strings.json, as Home Assistant's tooling does.

`[%key:common::...%]` references are replaced by Home Assistant's own English
texts (from the installed `homeassistant/strings.json`), and
`[%key:component::sungaze::...%]` references by our own. Run after editing
strings.json:  .venv/bin/python scripts/translations.py
tests/test_translations.py fails when en.json is out of date.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

import homeassistant

ROOT = Path(__file__).resolve().parents[1] / "custom_components" / "sungaze"
REFERENCE = re.compile(r"\[%key:([a-z0-9_:]+)%\]")


def _lookup(tree: dict[str, Any], path: list[str]) -> str:
    node: Any = tree
    for part in path:
        node = node[part]
    if not isinstance(node, str):
        raise KeyError("::".join(path))
    return node


def generate() -> dict[str, Any]:
    """Return en.json's content for the current strings.json."""
    strings = json.loads((ROOT / "strings.json").read_text())
    core = json.loads(
        (Path(homeassistant.__file__).parent / "strings.json").read_text()
    )

    def resolve(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            path = match.group(1).split("::")
            if path[0] == "common":
                return resolve(_lookup(core, path))
            if path[:2] == ["component", "sungaze"]:
                return resolve(_lookup(strings, path[2:]))
            raise KeyError(match.group(1))

        return REFERENCE.sub(one, text)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, str):
            return resolve(node)
        return node

    return walk(strings)


def render() -> str:
    """en.json as text, in the repository's format."""
    return json.dumps(generate(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    (ROOT / "translations" / "en.json").write_text(render())
    print("wrote", ROOT / "translations" / "en.json")
