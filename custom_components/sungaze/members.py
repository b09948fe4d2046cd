"""Entries that follow other entries (the whole home), and connector state kept on disk.

Every coordinator announces each new snapshot of its entry on a dispatcher
signal; a coordinator whose connector `follows_members` hands them to it. This
keeps the Home event-driven (no polling of its own, no vendor request) and
survives member reloads, since nothing holds on to a member's coordinator.

Connectors that derive state which must survive a restart (a Home's counter
bases, integrated energies) expose `saved_state`/`restore_state`; it is kept
in a Store per entry and written shortly after it changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import (
    async_dispatcher_connect,
    async_dispatcher_send,
)
from homeassistant.helpers.storage import Store

from .connectors.base import Member
from .const import DOMAIN
from .model import Snapshot

if TYPE_CHECKING:
    from .coordinator import SungazeCoordinator

SIGNAL_SNAPSHOT = f"{DOMAIN}_member_snapshot"
SIGNAL_REMOVED = f"{DOMAIN}_member_removed"
SAVE_DELAY = 30


def state_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Where an entry's connector state is kept."""
    return Store(hass, 1, f"{DOMAIN}.state.{entry_id}")


@callback
def announce(coordinator: SungazeCoordinator, snapshot: Snapshot | None) -> None:
    """Tell followers an entry's newest snapshot (None: it is unloading)."""
    if coordinator.connector.follows_members:
        return  # a Home is nobody's member
    entry = coordinator.config_entry
    async_dispatcher_send(
        coordinator.hass,
        SIGNAL_SNAPSHOT,
        Member(entry_id=entry.entry_id, title=entry.title, snapshot=snapshot),
    )


@callback
def announce_removed(hass: HomeAssistant, entry_id: str) -> None:
    """Tell followers an entry was removed for good."""
    async_dispatcher_send(hass, SIGNAL_REMOVED, entry_id)


async def async_restore(
    coordinator: SungazeCoordinator, store: Store[dict[str, Any]]
) -> None:
    """Load the connector's kept state."""
    if (state := await store.async_load()) is not None:
        coordinator.connector.restore_state(state)


@callback
def save(coordinator: SungazeCoordinator, store: Store[dict[str, Any]]) -> None:
    """Write the connector's state soon, if it changed."""
    connector = coordinator.connector
    if connector.dirty:
        store.async_delay_save(lambda: dict(connector.saved_state() or {}), SAVE_DELAY)


async def async_follow(
    coordinator: SungazeCoordinator, store: Store[dict[str, Any]]
) -> None:
    """Feed a following connector every member snapshot, starting with those loaded."""
    hass = coordinator.hass
    entry = coordinator.config_entry
    connector = coordinator.connector

    @callback
    def on_member(member: Member) -> None:
        if member.entry_id != entry.entry_id:
            connector.member_update(member)
            save(coordinator, store)

    @callback
    def on_removed(entry_id: str) -> None:
        connector.member_removed(entry_id)
        save(coordinator, store)

    entry.async_on_unload(async_dispatcher_connect(hass, SIGNAL_SNAPSHOT, on_member))
    entry.async_on_unload(async_dispatcher_connect(hass, SIGNAL_REMOVED, on_removed))
    for other in hass.config_entries.async_loaded_entries(DOMAIN):
        member: SungazeCoordinator | None = getattr(other, "runtime_data", None)
        if (
            other.entry_id != entry.entry_id
            and member is not None
            and member.data is not None
            and not member.connector.follows_members
        ):
            on_member(
                Member(entry_id=other.entry_id, title=other.title, snapshot=member.data)
            )
