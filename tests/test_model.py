"""The normalised model: lenient parsing, the metric catalogue, the counter guard."""

from datetime import UTC, date, datetime, timedelta

import pytest

from custom_components.sungaze.model import (
    METRICS,
    CounterGuard,
    CounterKind,
    as_float,
    metric_index,
    metric_spec,
)

T0 = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (12, 12.0),
        (1.5, 1.5),
        ("3.25", 3.25),
        (" 7 ", 7.0),
        ("", None),
        ("n/a", None),
        (None, None),
        (True, None),
        (float("nan"), None),
        (float("inf"), None),
        ([1], None),
    ],
)
def test_as_float(raw: object, expected: float | None) -> None:
    """Numbers and numeric strings parse; everything else is unknown, never 0."""
    assert as_float(raw) == expected


def test_as_float_scale() -> None:
    """A scale applies to parsed values."""
    assert as_float("2.5", scale=1000) == 2500.0


def test_catalogue_indexed_keys() -> None:
    """Indexed keys resolve to their family; plain keys do not take an index."""
    assert metric_spec("pv_power_2") is METRICS["pv_power"]
    assert metric_index("pv_power_2") == "2"
    assert metric_index("production_power") is None
    assert metric_spec("production_power_2") is None
    assert metric_spec("nonsense") is None


def test_catalogue_energy_counters() -> None:
    """Every counter is an energy total_increasing sensor in Wh."""
    for spec in METRICS.values():
        if spec.counter is not None:
            assert spec.unit == "Wh"
            assert spec.state_class == "total_increasing"
            assert spec.device_class == "energy"


def test_guard_accepts_normal_growth() -> None:
    """Plausible increases pass straight through."""
    guard = CounterGuard(CounterKind.LIFETIME)
    assert guard.accept(1_000_000.0, T0) == 1_000_000.0
    assert guard.accept(1_002_000.0, T0 + timedelta(minutes=30)) == 1_002_000.0


def test_guard_holds_drop_zero_and_spike(caplog: pytest.LogCaptureFixture) -> None:
    """Drops, zeros and unit mix-ups keep the last good value, logged once."""
    guard = CounterGuard(CounterKind.LIFETIME)
    guard.accept(5_000_000.0, T0)
    assert guard.accept(0.0, T0 + timedelta(minutes=15)) == 5_000_000.0
    assert guard.accept(4_000_000.0, T0 + timedelta(minutes=30)) == 5_000_000.0
    # 5,000 kWh read as MWh-scaled Wh: a thousandfold jump.
    assert guard.accept(5e9, T0 + timedelta(minutes=45)) == 5_000_000.0
    assert caplog.text.count("keeping the last good value") == 1
    assert guard.accept(5_001_000.0, T0 + timedelta(hours=1)) == 5_001_000.0
    assert "plausible again" in caplog.text


def test_guard_ignores_late_and_missing_data() -> None:
    """Data older than what was published, or absent, changes nothing."""
    guard = CounterGuard(CounterKind.LIFETIME)
    guard.accept(100.0, T0)
    assert guard.accept(50.0, T0 - timedelta(hours=1)) == 100.0
    assert guard.accept(None, T0 + timedelta(hours=1)) == 100.0


def test_guard_long_gap_allows_large_rise() -> None:
    """After a long outage a large but plausible rise is accepted."""
    guard = CounterGuard(CounterKind.LIFETIME, max_power_w=10_000)
    guard.accept(100_000.0, T0)
    assert guard.accept(300_000.0, T0 + timedelta(days=1)) == 300_000.0


def test_guard_accepts_confirmed_meter_replacement(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A lower counter that keeps rising steadily is a new meter."""
    guard = CounterGuard(CounterKind.LIFETIME, confirm=3)
    guard.accept(9_000_000.0, T0)
    assert guard.accept(10.0, T0 + timedelta(minutes=15)) == 9_000_000.0
    assert guard.accept(20.0, T0 + timedelta(minutes=30)) == 9_000_000.0
    assert guard.accept(30.0, T0 + timedelta(minutes=45)) == 30.0
    assert "accepting it as a reset meter" in caplog.text
    # A dip in the middle restarts the confirmation.
    guard.accept(5.0, T0 + timedelta(hours=1))
    guard.accept(1.0, T0 + timedelta(hours=2))
    assert guard.value == 30.0


def test_guard_daily_resets_only_on_new_day() -> None:
    """A daily counter restarts at the site's midnight, not in the middle of a day."""
    guard = CounterGuard(CounterKind.DAILY)
    day1, day2 = date(2026, 6, 21), date(2026, 6, 22)
    guard.accept(20_000.0, T0, day1)
    assert guard.accept(0.0, T0 + timedelta(hours=1), day1) == 20_000.0
    assert guard.accept(150.0, T0 + timedelta(hours=13), day2) == 150.0
    # A new day cannot start with an implausible value either.
    guard = CounterGuard(CounterKind.DAILY, max_power_w=10_000)
    guard.accept(20_000.0, T0, day1)
    assert guard.accept(900_000.0, T0 + timedelta(hours=1), day2) == 20_000.0


def test_guard_never_accepts_a_slightly_low_series() -> None:
    """A steady series just below the published value is held, however long."""
    guard = CounterGuard(CounterKind.LIFETIME, confirm=3)
    guard.accept(9_000_000.0, T0)
    for step in range(1, 10):
        held = guard.accept(8_990_000.0 + step, T0 + timedelta(minutes=15 * step))
        assert held == 9_000_000.0
    # Once the vendor catches up, its values flow again.
    assert guard.accept(9_000_500.0, T0 + timedelta(hours=3)) == 9_000_500.0
