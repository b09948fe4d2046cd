"""The shared connector helpers: lenient parsing, period ends, plausibility."""

from datetime import UTC, date, datetime, timedelta

import pytest

from custom_components.sungaze.connectors.http import MAX_RETRY_AFTER, parse_retry_after
from custom_components.sungaze.connectors.parse import (
    error_detail,
    iso_z,
    mappings,
    next_day,
    next_month,
    parse_date,
    parse_epoch,
    parse_iso,
    rows,
    screen,
    site_device,
    zone,
)
from custom_components.sungaze.model import DeviceKind, Readings, Site, plausible

NOW = datetime(2026, 6, 21, 19, 0, tzinfo=UTC)


def test_times_and_dates() -> None:
    """Aware ISO times become UTC; naive or broken ones are unknown."""
    assert parse_iso("2026-06-21T12:00:00-07:00") == NOW
    assert parse_iso("2026-06-21T12:00:00") is None
    assert parse_iso("noon") is None
    assert parse_iso(12) is None
    assert parse_date("2026-06-21T00:00") == date(2026, 6, 21)
    assert parse_date("21/06/2026") is None
    assert parse_date(None) is None
    assert parse_epoch(NOW.timestamp()) == NOW
    assert parse_epoch("0") is None
    assert parse_epoch(1e30) is None
    assert iso_z(NOW) == "2026-06-21T19:00:00Z"


def test_lists_zones_and_errors() -> None:
    """Wrong shapes give empty lists, unknown zones UTC, bodies their detail."""
    assert mappings([{"a": 1}, 2, None]) == [{"a": 1}]
    assert mappings("x") == []
    assert rows({"k": [{"a": 1}, "b"]}, "k") == [{"a": 1}]
    assert rows([], "k") == []
    assert str(zone("America/Phoenix")) == "America/Phoenix"
    assert str(zone("Mars/Olympus")) == "UTC"
    assert str(zone(None)) == "UTC"
    assert error_detail('{"detail": "", "title": "Nope"}', "detail", "title") == "Nope"
    assert error_detail("<html>down</html>", "detail") == "<html>down</html>"
    assert error_detail("[1]", "detail") == ""
    device = site_device(Site(id="1", name="Home"), "Acme", "Portal")
    assert (device.kind, device.manufacturer, device.model) == (
        DeviceKind.SITE,
        "Acme",
        "Portal",
    )


def test_period_ends() -> None:
    """The next month and day start at midnight, across year ends."""
    assert next_month(datetime(2026, 12, 31, 23, tzinfo=UTC)) == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    assert next_month(NOW) == datetime(2026, 7, 1, tzinfo=UTC)
    assert next_day(NOW) == datetime(2026, 6, 22, tzinfo=UTC)


def test_retry_after() -> None:
    """Seconds or an HTTP date; bounded; nonsense is no wait at all."""
    assert parse_retry_after("30") == 30
    assert parse_retry_after(" ") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after("-5") == 0
    assert parse_retry_after("999999") == MAX_RETRY_AFTER
    when = "Sun, 21 Jun 2026 19:02:00 GMT"
    assert parse_retry_after(when, now=NOW) == 120
    assert parse_retry_after("Sun, 21 Jun 2026 19:02:00", now=NOW) == 120


@pytest.mark.parametrize(
    ("key", "value", "peak", "ok"),
    [
        ("production_power", 5000.0, 7600.0, True),
        ("production_power", 1e12, None, False),
        ("production_power", 20000.0, 7600.0, False),
        ("production_power", -5000.0, None, False),
        ("production_power", -3.0, None, True),
        ("grid_power", -9000.0, 7600.0, True),
        ("grid_power", -1e9, 7600.0, False),
        ("battery_state_of_charge", 101.0, None, False),
        ("battery_state_of_charge", 55.0, None, True),
        ("production_energy_lifetime", -1.0, None, False),
        ("ac_frequency", 0.0, None, False),
        ("pv_power_2", 900.0, 7600.0, True),
        ("peak_power", 7600.0, 7600.0, True),
        ("battery_cycles", 1e6, None, True),
        ("work_mode", "running", None, True),
        ("unknown_key", -1e15, None, True),
        ("grid_power", float("inf"), None, False),
    ],
)
def test_plausible(key: str, value: object, peak: float | None, ok: bool) -> None:
    """Bounds by metric and by the site's size."""
    assert plausible(key, value, peak) is ok


def test_screen_leaves_good_readings_alone() -> None:
    """Only absurd values and future stamps change; the rest is the same object."""
    good = Readings(values={"production_power": 10.0}, as_of=NOW)
    readings = {
        "a": good,
        "b": Readings(values={"production_power": 1e12}, as_of=NOW),
        "c": Readings(values={}, as_of=NOW + timedelta(hours=3)),
    }
    faults = screen(readings, NOW)
    assert readings["a"] is good
    assert readings["b"].values == {"production_power": None}
    assert readings["c"].as_of == NOW
    assert len(faults) == 2
