"""OAuth 2.0 tokens of a config entry, and SolarEdge's sign-in callback.

Enphase and SolarEdge rotate the refresh token on every refresh and kill the
old one. Losing the new one means the homeowner must approve the app again by
hand, so `EntryTokens` keeps three promises that HA's `OAuth2Session` does not:

* One refresh at a time per entry, across reloads: the lock and the refresh in
  flight live in `hass.data`, not in a per-setup object (a reload while a
  refresh runs would otherwise start a second one with the dead token).
* A refresh is never cut off halfway: it runs as a tracked HA task that callers
  await through `asyncio.shield`. HA cancels update tasks when it stops; this
  one is waited for, like any tracked task, before the final write.
* The rotated token is on disk before anything uses it: after storing it in
  the entry, the config entries are written at once instead of by HA's
  one-second delayed save (a crash in that second would lose the only valid
  refresh token).

A refresh token the server refuses (non-429 4xx) is remembered as dead: the
entry fails authentication once and asks for re-authentication, and no further
token request is sent until the entry holds a new grant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
import hashlib
import hmac
import logging
import secrets
import time
from typing import Any, cast

from aiohttp import ClientError, web
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import (
    OAuth2TokenRequestBaseError,
    OAuth2TokenRequestReauthError,
)
from homeassistant.helpers import config_entry_oauth2_flow
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util.hass_dict import HassKey

from .application_credentials import SOLAREDGE_CALLBACK_PATH, bind_implementation
from .connectors.base import AuthFailedError, ConnectionFailedError
from .const import CONF_VENDOR, DOMAIN

_LOGGER = logging.getLogger(__name__)

REFRESH_MARGIN = 300
"""Seconds before expiry at which an access token is refreshed."""
TOKEN_TIMEOUT = 30
PENDING_SIGN_IN = 600
"""Seconds a SolarEdge sign-in may take before its callback is refused."""

_STATES: HassKey[dict[str, _TokenState]] = HassKey(f"{DOMAIN}_tokens")
_SIGNING: HassKey[_SignIns] = HassKey(f"{DOMAIN}_sign_ins")


@dataclass(slots=True)
class _TokenState:
    """Per-entry token bookkeeping that outlives reloads."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    task: asyncio.Task[dict[str, Any]] | None = None
    dead: str | None = None
    """A refresh token the server refused."""


async def async_save_entries_now(hass: HomeAssistant) -> None:
    """Write the config entries to disk now, not after HA's one-second delay.

    HA has no public call for this; `ConfigEntries` keeps its store private.
    Should that change, the delayed save (and the final write on a clean stop)
    still happen, so the guarantee degrades to HA's own.
    """
    manager = hass.config_entries
    store = getattr(manager, "_store", None)
    data = getattr(manager, "_data_to_save", None)
    if store is None or data is None:  # pragma: no cover - HA internals moved
        _LOGGER.warning("Cannot write config entries immediately")
        return
    await store.async_save(data())


async def async_store_credentials(
    hass: HomeAssistant, entry: ConfigEntry, updates: Mapping[str, Any]
) -> None:
    """Merge new credentials (a rotated refresh token) into the entry, on disk now.

    Connectors await it (`Connector.on_credentials`) before using them.
    """
    hass.config_entries.async_update_entry(entry, data={**entry.data, **updates})
    await async_save_entries_now(hass)


class EntryTokens:
    """The access token of one config entry, refreshed durably (a TokenProvider)."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        implementation: config_entry_oauth2_flow.AbstractOAuth2Implementation,
    ) -> None:
        """Keep the entry whose `data["token"]` this manages."""
        self._hass = hass
        self._entry = entry
        self._implementation = implementation
        states = hass.data.setdefault(_STATES, {})
        self._state = states.setdefault(entry.entry_id, _TokenState())

    @property
    def token(self) -> dict[str, Any]:
        """The token as stored in the entry."""
        return cast(dict[str, Any], self._entry.data["token"])

    async def __call__(self, *, rejected: str | None = None) -> str:
        """Return a valid access token, refreshing it first when needed."""
        state = self._state
        async with state.lock:
            if state.task is not None and not state.task.done():
                # A refresh whose caller was cancelled is still running: wait
                # for it rather than spend the refresh token a second time.
                await self._wait(state.task)
            token = self.token
            if state.dead is not None and state.dead == token.get("refresh_token"):
                raise AuthFailedError("The refresh token was refused; sign in again")
            stale = rejected is not None and rejected == token.get("access_token")
            if not stale and float(token.get("expires_at", 0)) > (
                time.time() + REFRESH_MARGIN
            ):
                return str(token["access_token"])
            state.task = self._hass.async_create_task(
                self._async_refresh(dict(token)),
                f"{DOMAIN} token refresh {self._entry.entry_id}",
                eager_start=False,
            )
            state.task.add_done_callback(_retrieve)
            new = await self._wait(state.task)
            return str(new["access_token"])

    async def _wait(self, task: asyncio.Task[dict[str, Any]]) -> dict[str, Any]:
        """Await a refresh without letting our cancellation cancel it."""
        try:
            return await asyncio.shield(task)
        except OAuth2TokenRequestReauthError as err:
            self._state.dead = self.token.get("refresh_token")
            raise AuthFailedError(
                "The vendor refused the refresh token; sign in again"
            ) from err
        except (OAuth2TokenRequestBaseError, ClientError, TimeoutError) as err:
            raise ConnectionFailedError(
                f"Token refresh failed: {type(err).__name__}"
            ) from err

    async def _async_refresh(self, token: dict[str, Any]) -> dict[str, Any]:
        """Refresh, store in the entry, write to disk; only then hand it out."""
        # HA's helper checks the answer: an access token and its expiry.
        async with asyncio.timeout(TOKEN_TIMEOUT):
            new = await self._implementation.async_refresh_token(token)
        self._hass.config_entries.async_update_entry(
            self._entry, data={**self._entry.data, "token": new}
        )
        await async_save_entries_now(self._hass)
        _LOGGER.debug("Refreshed the access token of %s", self._entry.title)
        return new


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Consume a refresh's outcome even when every waiter was cancelled."""
    if not task.cancelled():
        task.exception()


async def async_token_provider(hass: HomeAssistant, entry: ConfigEntry) -> EntryTokens:
    """The token provider of an OAuth entry, bound to its vendor's servers."""
    credential = await config_entry_oauth2_flow.async_get_config_entry_implementation(
        hass, entry
    )
    implementation = bind_implementation(
        hass, credential, entry.data[CONF_VENDOR], entry.data.get("url")
    )
    return EntryTokens(hass, entry, implementation)


@callback
def async_forget_tokens(hass: HomeAssistant, entry_id: str) -> None:
    """Drop an entry's token bookkeeping when the entry is removed."""
    hass.data.get(_STATES, {}).pop(entry_id, None)


# -- SolarEdge site access: the sign-in callback --------------------------------


@dataclass(slots=True)
class _SignIns:
    """Flows waiting for a SolarEdge callback, and the key that signs their ids."""

    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    pending: dict[str, float] = field(default_factory=dict)
    view: bool = False


def _sign_ins(hass: HomeAssistant) -> _SignIns:
    return hass.data.setdefault(_SIGNING, _SignIns())


def sign_flow_id(hass: HomeAssistant, flow_id: str) -> str:
    """An opaque, signed reference to a flow, sent as SolarEdge's `external_id`."""
    sign_ins = _sign_ins(hass)
    sign_ins.pending[flow_id] = time.monotonic()
    digest = hmac.new(sign_ins.key, flow_id.encode(), hashlib.sha256).hexdigest()
    return f"{flow_id}.{digest[:32]}"


def _flow_for(hass: HomeAssistant, reference: str | None) -> str | None:
    """The flow a callback belongs to: its signed reference, else the only one."""
    sign_ins = _sign_ins(hass)
    now = time.monotonic()
    for flow_id, started in list(sign_ins.pending.items()):
        if now - started > PENDING_SIGN_IN:
            del sign_ins.pending[flow_id]
    if reference:
        flow_id, _, digest = reference.rpartition(".")
        expected = hmac.new(sign_ins.key, flow_id.encode(), hashlib.sha256).hexdigest()
        if flow_id in sign_ins.pending and hmac.compare_digest(digest, expected[:32]):
            return flow_id
        return None
    if len(sign_ins.pending) == 1:
        # Neither external_id nor state came back: only one sign-in can be meant.
        return next(iter(sign_ins.pending))
    return None


@callback
def async_register_callback_view(hass: HomeAssistant) -> None:
    """Serve the SolarEdge callback (once per HA run)."""
    sign_ins = _sign_ins(hass)
    if not sign_ins.view:
        hass.http.register_view(SolarEdgeCallbackView())
        sign_ins.view = True


class SolarEdgeCallbackView(HomeAssistantView):
    """Where SolarEdge's consent page sends the homeowner back.

    HA's own `/auth/external/callback` needs `state`, which SolarEdge does not
    return; this view finds the flow from `external_id` (echoed by SolarEdge)
    or, failing that, takes the single sign-in started in the last 10 minutes.
    It also keeps `site_id`, which HA's view would drop.
    """

    requires_auth = False
    url = SOLAREDGE_CALLBACK_PATH
    name = f"api:{DOMAIN}:solaredge:callback"

    async def get(self, request: web.Request) -> web.Response:
        """Resume the waiting config flow with the code (or the refusal)."""
        hass = request.app[KEY_HASS]
        query = request.query
        flow_id = _flow_for(hass, query.get("external_id") or query.get("state"))
        if flow_id is None:
            return web.Response(
                status=400,
                text="No Sungaze sign-in is waiting for this answer. "
                "Start adding SolarEdge again in Home Assistant.",
            )
        user_input: dict[str, Any] = {"state": {"flow_id": flow_id}}
        if "code" in query:
            user_input["code"] = query["code"]
            if "site_id" in query:
                user_input["site_id"] = query["site_id"]
        elif "error" in query:
            user_input["error"] = query["error"]
        else:
            return web.Response(status=400, text="Missing code or error parameter")
        _sign_ins(hass).pending.pop(flow_id, None)
        await hass.config_entries.flow.async_configure(
            flow_id=flow_id, user_input=user_input
        )
        return web.Response(
            headers={"content-type": "text/html"},
            text="<script>window.close()</script>Signed in; you can close this tab.",
        )
