"""The demo home is placed where the sun is up (tests/simulators/__main__.py)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from .simulators.__main__ import demo_place


@pytest.mark.parametrize("hour", range(24))
def test_the_demo_home_has_late_morning_at_any_hour(hour: int) -> None:
    """Whatever the UTC hour, local time is 10:30-11:30 and longitude matches."""
    now = datetime(2026, 11, 29, hour, 17, tzinfo=UTC)
    place = demo_place(now)
    local = now.astimezone(ZoneInfo(place.time_zone))
    assert 10.5 <= local.hour + local.minute / 60 <= 11.5
    assert place.longitude == 15.0 * place.utc_offset
    assert local.utcoffset() == timedelta(hours=place.utc_offset)


def test_a_restart_keeps_the_place_while_it_is_day_there() -> None:
    """The previous zone stays while it is 08:00-15:00 there, then the home moves."""
    noon_there = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)  # 12:00 at UTC-3
    assert demo_place(noon_there, keep="Etc/GMT+3").time_zone == "Etc/GMT+3"
    evening_there = datetime(2026, 11, 29, 19, 0, tzinfo=UTC)  # 16:00 at UTC-3
    assert demo_place(evening_there, keep="Etc/GMT+3").time_zone == "Etc/GMT+8"
    assert demo_place(noon_there, keep="America/Phoenix").time_zone == "Etc/GMT+4"
