"""The English translation is generated from strings.json and covers every entity."""

import importlib.util
import json
from pathlib import Path

from custom_components.sungaze.coordinator import STATUSES
from custom_components.sungaze.model import METRICS

ROOT = Path(__file__).resolve().parents[1]


def _translations_script():
    spec = importlib.util.spec_from_file_location(
        "translations", ROOT / "scripts" / "translations.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_en_json_is_generated_from_strings() -> None:
    """en.json is exactly what scripts/translations.py makes of strings.json."""
    en = ROOT / "custom_components" / "sungaze" / "translations" / "en.json"
    assert en.read_text() == _translations_script().render(), (
        "run: .venv/bin/python scripts/translations.py"
    )


def test_every_metric_and_state_has_a_name() -> None:
    """Each catalogue metric, enum state and connection status is translated."""
    strings = json.loads(
        (ROOT / "custom_components" / "sungaze" / "strings.json").read_text()
    )
    sensors = strings["entity"]["sensor"]
    for key, spec in METRICS.items():
        name = f"{key}_n" if spec.indexed else key
        assert name in sensors, name
        if spec.indexed:
            assert "{index}" in sensors[name]["name"]
        for option in spec.options or ():
            assert option in sensors[name]["state"], (key, option)
    assert set(sensors["connection_status"]["state"]) == set(STATUSES)


def test_every_key_without_a_device_class_has_an_icon() -> None:
    """A sensor with no device class (or an enum one) gets its icon from icons.json."""
    icons = json.loads(
        (ROOT / "custom_components" / "sungaze" / "icons.json").read_text()
    )["entity"]["sensor"]
    needed = {
        f"{key}_n" if spec.indexed else key
        for key, spec in METRICS.items()
        if spec.device_class in (None, "enum")
    } | {"connection_status", "requests_month", "requests_left"}
    assert needed - set(icons) == set()
    for icon in icons.values():
        assert icon["default"].startswith("mdi:")
