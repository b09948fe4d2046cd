"""History series become external statistics: idempotent, with a continuous sum."""

from datetime import UTC, datetime, timedelta
from typing import Any

from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.model import StatPoint, StatSeries
from custom_components.sungaze.statistics import SeriesImporter, statistic_id

START = datetime(2026, 6, 20, 0, 0, tzinfo=UTC)


@pytest.fixture
def mock_recorder_before_hass(async_test_recorder: Any) -> None:
    """Prepare the recorder's database before `hass` (HA's pattern)."""


def _series(*values: float, key: str = "grid_consumption") -> StatSeries:
    return StatSeries(
        key=key,
        name="Grid consumption",
        unit="kWh",
        points=tuple(
            StatPoint(start=START + timedelta(hours=hour), value=value)
            for hour, value in enumerate(values)
        ),
    )


async def _rows(hass: HomeAssistant, stat_id: str) -> list[dict[str, Any]]:
    await async_wait_recording_done(hass)
    found = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        START - timedelta(hours=1),
        None,
        {stat_id},
        "hour",
        None,
        {"state", "sum"},
    )
    return list(found.get(stat_id, []))


@pytest.mark.usefixtures("mock_recorder_before_hass")
async def test_series_import_is_idempotent_and_continues(
    recorder_mock: Recorder, hass: HomeAssistant
) -> None:
    """Hours are written once; a late change rewrites from there, the sum goes on."""
    entry = MockConfigEntry(domain=DOMAIN, title="Home", unique_id="srp_123")
    entry.add_to_hass(hass)
    importer = SeriesImporter(hass, entry)
    stat_id = statistic_id(entry, "grid_consumption")
    assert stat_id == "sungaze:srp_123_grid_consumption"
    await importer.async_import([_series(1.0, 2.0, 3.0)])
    rows = await _rows(hass, stat_id)
    assert [row["sum"] for row in rows] == [1.0, 3.0, 6.0]
    assert importer.last_window["grid_consumption"][2] == 3
    # The same series again writes nothing.
    importer.last_window.clear()
    await importer.async_import([_series(1.0, 2.0, 3.0)])
    assert importer.last_window == {}
    # The third hour corrected and a fourth one: written from the third on.
    # Half-hour stamps fold into their hour, the last word kept.
    late = _series(1.0, 2.0, 5.0, 1.0)
    late = StatSeries(
        key=late.key,
        name=late.name,
        unit=late.unit,
        points=(
            *late.points,
            StatPoint(start=START + timedelta(hours=3, minutes=30), value=2.0),
        ),
    )
    await importer.async_import([late])
    rows = await _rows(hass, stat_id)
    assert [row["sum"] for row in rows] == [1.0, 3.0, 8.0, 10.0]
    assert importer.last_window["grid_consumption"][2] == 2


async def test_series_import_needs_the_recorder(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the recorder nothing is imported, and nothing fails."""
    entry = MockConfigEntry(domain=DOMAIN, title="Home")
    entry.add_to_hass(hass)
    importer = SeriesImporter(hass, entry)
    caplog.set_level("DEBUG", logger="custom_components.sungaze")
    await importer.async_import([_series(1.0)])
    assert importer.last_window == {}
    assert "Recorder not loaded" in caplog.text
