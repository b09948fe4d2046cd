"""Config-flow steps of the whole home: which Sungaze entries it combines.

The Home is offered in the menu like a vendor. It asks for a name, the member
entries (all by default, which also takes in entries added later) and, when
several could, which entry measures the grid. Its options also take the array
size (kWp) of a member whose vendor gives none, for the underperformance check.
Nothing is sent to any vendor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
import uuid

from homeassistant.config_entries import ConfigEntry, ConfigFlowResult
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant, async_get_hass
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
import probatio

from ..connectors.home import (
    CONF_GRID_MEMBER,
    CONF_HOME_ID,
    CONF_MEMBERS,
    CONF_PEAK_POWER,
    CONF_TIME_ZONE,
    HomeConnector,
)
from ..const import CONF_VENDOR, DOMAIN
from .base import SungazeFlowBase, validate_input

AUTO = "auto"
NONE = "none"
CONF_PEAK_MEMBER = "peak_member"
"""Options form: the member whose array size `peak_power` sets."""


def _candidates(hass: HomeAssistant) -> list[ConfigEntry]:
    """Sungaze entries a Home can combine (every entry but Homes)."""
    return [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.data.get(CONF_VENDOR) != HomeConnector.vendor
    ]


def _member_fields(
    hass: HomeAssistant, members: list[str] | None, grid: str | None
) -> dict[probatio.Marker, Any]:
    entries = _candidates(hass)
    options = [SelectOptionDict(value=e.entry_id, label=e.title) for e in entries]
    chosen = members or [e.entry_id for e in entries]
    return {
        probatio.Required(CONF_MEMBERS, default=chosen): SelectSelector(
            SelectSelectorConfig(
                options=options, multiple=True, mode=SelectSelectorMode.LIST
            )
        ),
        probatio.Required(CONF_GRID_MEMBER, default=grid or AUTO): SelectSelector(
            SelectSelectorConfig(
                options=[SelectOptionDict(value=AUTO, label="Automatic"), *options],
                translation_key=CONF_GRID_MEMBER,
                mode=SelectSelectorMode.DROPDOWN,
            )
        ),
    }


def member_options(
    hass: HomeAssistant, user_input: Mapping[str, Any]
) -> dict[str, Any]:
    """Options from the form: a full selection means "every entry, also later ones"."""
    everyone = {e.entry_id for e in _candidates(hass)}
    chosen = list(user_input.get(CONF_MEMBERS) or [])
    options: dict[str, Any] = {}
    if set(chosen) != everyone:
        options[CONF_MEMBERS] = chosen
    if (grid := user_input.get(CONF_GRID_MEMBER)) and grid != AUTO:
        options[CONF_GRID_MEMBER] = grid
    return options


class HomeFlow(SungazeFlowBase):
    """The whole home: a combination of other entries."""

    vendor: ClassVar[str] = HomeConnector.vendor
    polls: ClassVar[bool] = False
    menu_order: ClassVar[int] = 1

    async def async_step_home(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Name the home and choose its members."""
        errors: dict[str, str] = {}
        if not _candidates(self.hass):
            return self.async_abort(reason="no_members")
        if user_input is not None and not (errors := validate_input(user_input)):
            if not user_input.get(CONF_MEMBERS):
                errors[CONF_MEMBERS] = "no_member"
            else:
                home_id = uuid.uuid4().hex
                await self.async_set_unique_id(f"home_{home_id}")
                name = str(user_input.get(CONF_NAME) or "Home").strip()[:64] or "Home"
                return self.async_create_entry(
                    title=name,
                    data={
                        CONF_VENDOR: HomeFlow.vendor,
                        CONF_HOME_ID: home_id,
                        CONF_NAME: name,
                        CONF_TIME_ZONE: self.hass.config.time_zone,
                    },
                    options=member_options(self.hass, user_input),
                )
        return self.async_show_form(
            step_id="home",
            data_schema=probatio.Schema(
                {
                    probatio.Required(CONF_NAME, default="Home"): TextSelector(),
                    **_member_fields(self.hass, None, None),
                }
            ),
            errors=errors,
        )

    @classmethod
    def options_fields(
        cls, entry: ConfigEntry, options: Mapping[str, Any]
    ) -> dict[probatio.Marker, Any]:
        """Members, the grid meter and the array sizes can change later.

        Array sizes are set one member at a time: pick it, give its kWp (0
        clears it). The list shows each member's size and where it comes from.
        """
        hass = async_get_hass()
        fields = _member_fields(
            hass, options.get(CONF_MEMBERS), options.get(CONF_GRID_MEMBER)
        )
        set_here: Mapping[str, float] = entry.options.get(CONF_PEAK_POWER) or {}
        connector = getattr(getattr(entry, "runtime_data", None), "connector", None)
        labels: list[SelectOptionDict] = [SelectOptionDict(value=NONE, label="—")]
        for member in _candidates(hass):
            vendor = (
                connector.vendor_peak_kw(member.entry_id)
                if isinstance(connector, HomeConnector)
                else None
            )
            if (mine := set_here.get(member.entry_id)) is not None:
                size = f"{mine:g} kWp, set here"
            elif vendor is not None:
                size = f"{vendor:g} kWp, from the vendor"
            else:
                size = "size unknown"
            labels.append(
                SelectOptionDict(
                    value=member.entry_id, label=f"{member.title} ({size})"
                )
            )
        fields[probatio.Optional(CONF_PEAK_MEMBER, default=NONE)] = SelectSelector(
            SelectSelectorConfig(options=labels, mode=SelectSelectorMode.DROPDOWN)
        )
        fields[probatio.Optional(CONF_PEAK_POWER)] = NumberSelector(
            NumberSelectorConfig(
                min=0,
                max=10_000,
                step=0.01,
                unit_of_measurement="kWp",
                mode=NumberSelectorMode.BOX,
            )
        )
        return fields

    @classmethod
    def options_from_input(
        cls, entry: ConfigEntry, user_input: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Members as in the setup form; an array size set or cleared for one member."""
        options = {
            key: value
            for key, value in user_input.items()
            if key
            not in (CONF_MEMBERS, CONF_GRID_MEMBER, CONF_PEAK_MEMBER, CONF_PEAK_POWER)
        }
        options.update(member_options(async_get_hass(), user_input))
        peaks = {
            str(k): float(v)
            for k, v in (entry.options.get(CONF_PEAK_POWER) or {}).items()
        }
        member = user_input.get(CONF_PEAK_MEMBER)
        size = user_input.get(CONF_PEAK_POWER)
        if member and member != NONE and size is not None:
            if float(size) > 0:
                peaks[str(member)] = float(size)
            else:
                peaks.pop(str(member), None)
        if peaks:
            options[CONF_PEAK_POWER] = peaks
        return options
