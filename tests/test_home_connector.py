"""The whole home's arithmetic, HA-free: totals, signs, counters, underperformance."""

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.sungaze.connectors.base import Member
from custom_components.sungaze.connectors.home import (
    CONF_GRID_MEMBER,
    CONF_HOME_ID,
    CONF_MEMBERS,
    CONF_PEAK_POWER,
    CONF_TIME_ZONE,
    HomeConnector,
)
from custom_components.sungaze.model import Device, DeviceKind, Readings, Site, Snapshot

T0 = datetime(2026, 6, 1, 19, 0, tzinfo=UTC)  # noon in Phoenix


def _snapshot(
    site_values: dict[str, float | None],
    *,
    at: datetime = T0,
    peak_w: float | None = None,
    batteries: dict[str, dict[str, float]] | None = None,
) -> Snapshot:
    devices = {"s": Device(id="s", kind=DeviceKind.SITE, name="Site", site_id="s")}
    readings = {"s": Readings(values=site_values)}
    for name, values in (batteries or {}).items():
        devices[name] = Device(id=name, kind=DeviceKind.BATTERY, name=name, site_id="s")
        readings[name] = Readings(values=values)
    return Snapshot(
        sites={"s": Site(id="s", name="Site", peak_power_w=peak_w)},
        devices=devices,
        readings=readings,
        fetched_at=at,
    )


def _home(**options: object) -> HomeConnector:
    return HomeConnector.from_config(
        None,  # type: ignore[arg-type]
        {CONF_HOME_ID: "h1", CONF_TIME_ZONE: "America/Phoenix", **options},
    )


def _values(home: HomeConnector) -> dict[str, object]:
    snapshot = home._combine()
    return dict(snapshot.readings["h1"].values)


def test_totals_signs_and_one_grid() -> None:
    """Solar and battery add up; grid comes from one member, never summed."""
    home = _home()
    home.member_update(
        Member(
            entry_id="a",
            title="A SolarEdge",
            snapshot=_snapshot(
                {"production_power": 3000, "grid_power": -500, "battery_power": -1000}
            ),
        )
    )
    home.member_update(
        Member(
            entry_id="b",
            title="B EG4",
            snapshot=_snapshot(
                {"production_power": 2000, "grid_power": -480, "battery_power": 500}
            ),
        )
    )
    values = _values(home)
    assert values["production_power"] == 5000
    assert values["battery_power"] == -500
    assert values["grid_power"] == -500  # member "A ..." sorts first: its meter
    # 5000 solar - 500 exported - 500 into batteries = 4000 W used in the home.
    assert values["derived_consumption_power"] == 4000
    assert values["self_sufficiency"] == 100.0
    assert values["self_consumption"] == 90.0
    assert "consumption_power" not in values


def test_grid_member_chosen_and_measured_consumption() -> None:
    """The chosen grid member wins; a lone member's consumption meter is used."""
    home = _home(**{CONF_GRID_MEMBER: "b"})
    home.member_update(
        Member(
            entry_id="b",
            title="B",
            snapshot=_snapshot(
                {"production_power": 1000, "grid_power": 700, "consumption_power": 1700}
            ),
        )
    )
    values = _values(home)
    assert values["grid_power"] == 700
    assert values["consumption_power"] == 1700
    assert values["self_sufficiency"] == pytest.approx(58.8, abs=0.1)


def test_weighted_state_of_charge() -> None:
    """By capacity when every battery's is known; a plain mean otherwise."""
    home = _home()
    big = {"battery_state_of_charge": 50.0, "battery_remaining_energy": 10_000.0}
    small = {"battery_state_of_charge": 100.0, "battery_remaining_energy": 5_000.0}
    home.member_update(
        Member(
            entry_id="a",
            title="A",
            snapshot=_snapshot({}, batteries={"b1": big, "b2": small}),
        )
    )
    # 20 kWh at 50 % and 5 kWh at 100 %: 15 of 25 kWh = 60 %.
    assert _values(home)["battery_state_of_charge"] == 60.0
    home.member_update(
        Member(
            entry_id="c",
            title="C",
            snapshot=_snapshot({}, batteries={"b3": {"battery_state_of_charge": 30.0}}),
        )
    )
    assert _values(home)["battery_state_of_charge"] == pytest.approx(60.0)


def test_counters_monotonic_across_outage_glitch_and_removal() -> None:
    """Members add from where they joined; outages, glitches and removal never dip."""
    home = _home()
    a = {"production_energy_lifetime": 1_000_000.0}
    b = {"production_energy_lifetime": 50_000.0}
    home.member_update(Member(entry_id="a", title="A", snapshot=_snapshot(a)))
    home.member_update(Member(entry_id="b", title="B", snapshot=_snapshot(b)))
    assert _values(home)["production_energy_lifetime"] == 0
    later = T0 + timedelta(hours=1)
    home.member_update(
        Member(
            entry_id="a",
            title="A",
            snapshot=_snapshot({"production_energy_lifetime": 1_002_000.0}, at=later),
        )
    )
    home.member_update(
        Member(
            entry_id="b",
            title="B",
            snapshot=_snapshot({"production_energy_lifetime": 51_000.0}, at=later),
        )
    )
    assert _values(home)["production_energy_lifetime"] == 3000
    # B unloads: its share stays.
    home.member_update(Member(entry_id="b", title="B", snapshot=None))
    assert _values(home)["production_energy_lifetime"] == 3000
    # A glitches to zero for a poll: held back, no dip, no double count later.
    glitch = T0 + timedelta(hours=2)
    home.member_update(
        Member(
            entry_id="a",
            title="A",
            snapshot=_snapshot({"production_energy_lifetime": 0.0}, at=glitch),
        )
    )
    assert _values(home)["production_energy_lifetime"] == 3000
    home.member_update(
        Member(
            entry_id="a",
            title="A",
            snapshot=_snapshot(
                {"production_energy_lifetime": 1_002_500.0},
                at=glitch + timedelta(minutes=5),
            ),
        )
    )
    assert _values(home)["production_energy_lifetime"] == 3500
    # B is removed for good: what it added stays.
    home.member_removed("b")
    assert _values(home)["production_energy_lifetime"] == 3500


def test_state_survives_restart() -> None:
    """Bases, join points and last values come back; a member that left keeps its share."""
    home = _home()
    home.member_update(
        Member(
            entry_id="a",
            title="A",
            snapshot=_snapshot({"production_energy_lifetime": 100.0}),
        )
    )
    home.member_update(
        Member(
            entry_id="a",
            title="A",
            snapshot=_snapshot(
                {"production_energy_lifetime": 600.0}, at=T0 + timedelta(hours=1)
            ),
        )
    )
    assert home.dirty
    state = home.saved_state()
    assert not home.dirty
    again = _home(**{CONF_MEMBERS: ["x"]})  # "a" left while HA was stopped
    again.restore_state(state)
    assert _values(again)["production_energy_lifetime"] == 500


def _day(home: HomeConnector, day: int, yields: dict[str, float]) -> None:
    """Members' solar energy today at the end of a June day (Wh)."""
    at = datetime(2026, 6, day, 23, 0, tzinfo=UTC)  # 16:00 in Phoenix
    for entry_id, wh in yields.items():
        home.member_update(
            Member(
                entry_id=entry_id,
                title=entry_id.upper(),
                snapshot=_snapshot({"production_energy_today": wh}, at=at, peak_w=5000),
            )
        )


def test_underperformance_needs_several_sunny_days(
    freezer: object,
) -> None:
    """A shaded array is flagged after 3 sunny days; a cloudy day flags nothing."""
    home = _home(**{CONF_PEAK_POWER: {"c": 5.0}})
    freezer.move_to(datetime(2026, 6, 10, 19, 0, tzinfo=UTC))  # type: ignore[attr-defined]
    _day(home, 1, {"a": 30_000, "b": 29_000, "c": 18_000})  # c shaded: 3.6 vs ~5.9
    _day(home, 2, {"a": 6_000, "b": 5_000, "c": 2_000})  # cloudy: best 1.2 kWh/kWp
    _day(home, 3, {"a": 31_000, "b": 30_000, "c": 19_000})
    assert home._combine().alerts == ()  # one sunny... two: not yet
    _day(home, 4, {"a": 29_000, "b": 30_000, "c": 18_500})
    alerts = home._combine().alerts
    assert [a.code for a in alerts] == ["underperformance"]
    assert alerts[0].id == "underperformance_c"
    assert "C made 3.70 kWh/kWp on 2026-06-04" in alerts[0].message


def test_cloudy_day_alone_never_flags(freezer: object) -> None:
    """One low day of one array on a cloudy day raises nothing."""
    home = _home()
    freezer.move_to(datetime(2026, 6, 10, 19, 0, tzinfo=UTC))  # type: ignore[attr-defined]
    _day(home, 5, {"a": 30_000, "b": 30_000})
    _day(home, 6, {"a": 5_000, "b": 2_000})
    _day(home, 7, {"a": 30_000, "b": 29_500})
    assert home._combine().alerts == ()
