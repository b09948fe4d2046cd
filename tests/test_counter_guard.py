"""The counter guard (issue 9, "Counters"): false resets, replacements, skew, logs.

`ha_sum` adds up published values the way HA's statistics do for a
`total_increasing` sensor, so each test checks what the Energy dashboard
would show, not only what the guard returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
import json
import logging

import pytest

from custom_components.sungaze.model import (
    FUTURE_TOLERANCE,
    CounterGuard,
    CounterKind,
    plausible,
)

T0 = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
START = 5_000_000.0


def ha_sum(published: Iterable[float | None]) -> float:
    """Energy HA counts from a published series: a decrease starts a new cycle."""
    total, last = 0.0, None
    for value in published:
        if value is None:
            continue
        if last is not None:
            total += value - last if value >= last else value
        last = value
    return total


def feed(
    guard: CounterGuard, readings: Iterable[tuple[float, datetime]]
) -> list[float | None]:
    return [guard.accept(value, at) for value, at in readings]


def test_short_near_zero_glitch_is_never_a_new_meter() -> None:
    """Ten polls of near-zero values, then the real series: no hold, no double count."""
    guard = CounterGuard(CounterKind.LIFETIME)
    published = [guard.accept(START, T0)]
    published += feed(guard, [(10.0 * n, T0 + n * MINUTE) for n in range(1, 11)])
    assert published[-1] == START  # held, not accepted as a reset
    # The real counter comes back 200 Wh higher: it flows again at once.
    published.append(guard.accept(START + 200, T0 + 11 * MINUTE))
    assert published[-1] == START + 200
    assert ha_sum(published) == 200


def test_zeros_for_hours_are_never_a_new_meter() -> None:
    """A flat run of zeros (a vendor outage) is held however long it lasts."""
    guard = CounterGuard(CounterKind.LIFETIME)
    guard.accept(START, T0)
    held = feed(guard, [(0.0, T0 + n * 10 * MINUTE) for n in range(1, 40)])
    assert set(held) == {START}
    assert guard.accept(START + 5_000, T0 + 7 * timedelta(hours=1)) == START + 5_000


def test_long_glitch_accepted_then_the_old_series_returns() -> None:
    """A glitch long enough to pass for a new meter, then the old series returns.

    The guard returns to it and HA counts only the real energy.
    """
    guard = CounterGuard(CounterKind.LIFETIME)
    published = [guard.accept(START, T0)]
    glitch = [(5.0 * n, T0 + 5 * n * MINUTE) for n in range(1, 10)]  # 45 min
    published += feed(guard, glitch)
    assert published[-1] == 45.0  # taken for a replaced meter after 30 min
    # The real series comes back: 3 kWh more than before the glitch.
    back = T0 + timedelta(minutes=50)
    published.append(guard.accept(START + 3_000, back))
    published.append(guard.accept(START + 3_400, back + 5 * MINUTE))
    assert ha_sum(published) == pytest.approx(3_400)
    # It keeps flowing normally after that, never held.
    assert guard.accept(START + 4_000, back + 10 * MINUTE) == pytest.approx(
        published[-1] + 600
    )


def test_old_series_back_below_what_the_glitch_counted_is_held_until_it_catches_up() -> (
    None
):
    """The glitch counted more than the real gain: held, then no energy lost or doubled."""
    guard = CounterGuard(CounterKind.LIFETIME)
    published = [guard.accept(START, T0)]
    published += feed(guard, [(100.0 * n, T0 + 5 * n * MINUTE) for n in range(1, 10)])
    assert published[-1] == 900.0
    published.append(guard.accept(START + 500, T0 + 50 * MINUTE))
    assert published[-1] == 900.0  # the glitch already counted 900 Wh
    published.append(guard.accept(START + 1_500, T0 + 55 * MINUTE))
    assert ha_sum(published) == pytest.approx(1_500)


def test_real_replacement_settles_within_the_hour(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A new meter counting from zero is published after half an hour of rising."""
    guard = CounterGuard(CounterKind.LIFETIME)
    published = [guard.accept(START, T0)]
    new_meter = [(200.0 * n, T0 + 5 * n * MINUTE) for n in range(1, 13)]  # 1 h
    published += feed(guard, new_meter)
    first_taken = next(
        at
        for (value, at), out in zip(new_meter, published[1:], strict=True)
        if out == value
    )
    assert first_taken - T0 <= timedelta(minutes=40)
    assert published[-1] == 2_400.0
    assert "accepting it as a reset meter" in caplog.text
    # HA counts the new meter's energy from the reading it was accepted at.
    accepted = published.index(next(v for v in published[1:] if v != START))
    assert ha_sum(published) == pytest.approx(
        published[accepted] + (2_400.0 - published[accepted])
    )


def test_vendor_clock_hours_fast_does_not_freeze_the_counter() -> None:
    """Readings stamped 3 h ahead are dated now; once the clock is fixed, values flow."""
    now = [T0]
    guard = CounterGuard(CounterKind.LIFETIME, clock=lambda: now[0])
    assert guard.accept(START, T0) == START
    skew = timedelta(hours=3)
    for n in range(1, 4):
        now[0] = T0 + n * MINUTE
        assert guard.accept(START + 100 * n, now[0] + skew) == START + 100 * n
    # The vendor fixes its clock: the next readings carry true times.
    for n in range(4, 8):
        now[0] = T0 + n * MINUTE
        assert guard.accept(START + 100 * n, now[0]) == START + 100 * n
    # A little ahead (within the tolerance) is taken as stamped.
    now[0] = T0 + 10 * MINUTE
    assert guard.accept(START + 1_000, now[0] + FUTURE_TOLERANCE) == START + 1_000
    assert guard.as_of == now[0] + FUTURE_TOLERANCE


async def test_one_log_line_per_update_and_kind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """49 counters faulting in one update log one line per kind, and only once."""
    guards = [CounterGuard(CounterKind.LIFETIME) for _ in range(49)]
    for guard in guards:
        guard.accept(START, T0)
    caplog.clear()

    def update(value: float, minutes: int) -> None:
        for guard in guards:
            guard.accept(value, T0 + minutes * MINUTE)

    update(0.0, 1)  # every counter drops
    await _next_pass()
    lines = [r for r in caplog.records if r.name.endswith("model")]
    assert len(lines) == 1
    assert lines[0].levelno == logging.WARNING
    assert "Energy counters went backwards" in lines[0].getMessage()
    assert "and 46 more" in lines[0].getMessage()
    caplog.clear()
    update(0.0, 2)  # the same fault again: already said
    update(1e15, 3)  # a different fault of the same episode: already said
    await _next_pass()
    assert [r for r in caplog.records if r.name.endswith("model")] == []
    update(START + 100, 4)  # recovered
    await _next_pass()
    lines = [r for r in caplog.records if r.name.endswith("model")]
    assert len(lines) == 1
    assert lines[0].levelno == logging.INFO
    assert "plausible again" in lines[0].getMessage()


async def _next_pass() -> None:
    import asyncio

    await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("key", "value", "peak", "expected"),
    [
        ("production_power", 1e12, None, False),
        ("production_power", 5_000.0, None, True),
        ("production_power", -10.0, None, True),  # idle noise
        ("production_power", -5_000.0, None, False),
        ("production_power", 25_000.0, 10_000.0, False),
        ("grid_power", -15_000.0, 10_000.0, True),
        ("battery_state_of_charge", 140.0, None, False),
        ("production_energy_lifetime", -1.0, None, False),
        ("work_mode", "running", None, True),
        ("pv_power_3", float("nan"), None, False),
    ],
)
def test_plausible(key: str, value: float, peak: float | None, expected: bool) -> None:
    """Bounds per metric, from the site's size where known."""
    assert plausible(key, value, peak) is expected


def test_state_beyond_the_value_survives_a_restart() -> None:
    """After a false reset was undone, a restored guard keeps counting on."""
    guard = CounterGuard(CounterKind.LIFETIME)
    published = [guard.accept(START, T0)]
    published += feed(guard, [(5.0 * n, T0 + 5 * n * MINUTE) for n in range(1, 10)])
    published.append(guard.accept(START + 3_000, T0 + 50 * MINUTE))
    stored = json.loads(json.dumps(guard.extra()))
    # A restart: the sensor seeds value/as_of/day and the extra state.
    restored = CounterGuard(CounterKind.LIFETIME)
    restored.value, restored.as_of = guard.value, guard.as_of
    restored.restore_extra(stored)
    published.append(restored.accept(START + 3_500, T0 + 55 * MINUTE))
    assert ha_sum(published) == pytest.approx(3_500)
    # A reset accepted before the restart is still recognised when undone after it.
    guard = CounterGuard(CounterKind.LIFETIME)
    guard.accept(START, T0)
    feed(guard, [(5.0 * n, T0 + 5 * n * MINUTE) for n in range(1, 10)])
    restored = CounterGuard(CounterKind.LIFETIME)
    restored.value, restored.as_of = guard.value, guard.as_of
    restored.restore_extra(json.loads(json.dumps(guard.extra())))
    assert restored.accept(START + 100, T0 + 50 * MINUTE) == pytest.approx(100)


@pytest.mark.parametrize(
    "data", [{}, {"offset": "x", "previous": "y"}, {"previous": [1.0, "not a time"]}]
)
def test_malformed_extra_state_is_ignored(data: dict[str, object]) -> None:
    """A damaged store never breaks the guard."""
    guard = CounterGuard(CounterKind.LIFETIME)
    guard.restore_extra(data)
    assert guard.extra() == {"offset": 0.0, "previous": None}
