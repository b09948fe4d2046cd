"""Fix flows of Sungaze's repair issues: adding an entry to the Energy dashboard."""

from __future__ import annotations

from typing import Any

from homeassistant.components.repairs import (
    ConfirmRepairFlow,
    RepairsFlow,
    RepairsFlowResult,
)
from homeassistant.core import HomeAssistant
import probatio

from .energy import ISSUE_PREFIX, async_add_sources, async_missing_sources, describe


class EnergyOfferFlow(RepairsFlow):
    """Show what an entry adds to the Energy dashboard, then add it."""

    def __init__(self, entry_id: str) -> None:
        """Remember which entry's sources are offered."""
        self._entry_id = entry_id

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Start with the confirmation."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """List the sources; add them when confirmed."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None or getattr(entry, "runtime_data", None) is None:
            return self.async_abort(reason="entry_not_loaded")
        if user_input is not None:
            await async_add_sources(self.hass, entry)
            return self.async_create_entry(data={})
        missing = await async_missing_sources(self.hass, entry)
        if not missing:
            return self.async_abort(reason="nothing_to_add")
        return self.async_show_form(
            step_id="confirm",
            data_schema=probatio.Schema({}),
            description_placeholders={
                "title": entry.title,
                "sources": describe(missing),
            },
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """Create the fix flow of one of Sungaze's fixable issues."""
    if issue_id.startswith(ISSUE_PREFIX) and data and "entry_id" in data:
        return EnergyOfferFlow(str(data["entry_id"]))
    return ConfirmRepairFlow()  # pragma: no cover - no other fixable issue
