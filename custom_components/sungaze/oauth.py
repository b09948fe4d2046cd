"""OAuth 2.0 for the vendors that sign in with it: token requests and token life.

The bottom layer of Sungaze's OAuth: it imports nothing of ours but the
constants and the connector errors, so vendor flow modules (which define each
vendor's `VendorImplementation`) and `application_credentials` both build on it
without an import loop.

Token requests (`VendorImplementation`): each vendor posts to its token
endpoint its own way; failures are mapped the way HA's helper does: 429 and 5xx
are transient, other 4xx mean the grant is dead (re-authentication).

Token life (`EntryTokens`): Enphase and SolarEdge rotate the refresh token on
every refresh and kill the old one. Losing the new one means the homeowner must
approve the app again by hand, so `EntryTokens` keeps three promises that HA's
`OAuth2Session` does not:

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
from http import HTTPStatus
import logging
import time
from typing import Any, NoReturn, Self, cast

import aiohttp
from aiohttp import ClientError
from homeassistant.components.application_credentials import (
    AuthImplementation,
    AuthorizationServer,
    ClientCredential,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import (
    OAuth2TokenRequestBaseError,
    OAuth2TokenRequestConnectionError,
    OAuth2TokenRequestError,
    OAuth2TokenRequestReauthError,
    OAuth2TokenRequestTransientError,
)
from homeassistant.helpers import config_entry_oauth2_flow
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util.hass_dict import HassKey
from yarl import URL

from .connectors.base import AuthFailedError, ConnectionFailedError
from .const import DOMAIN

_LOGGER = logging.getLogger(__name__)

REFRESH_MARGIN = 300
"""Seconds before expiry at which an access token is refreshed."""
TOKEN_TIMEOUT = 30

_STATES: HassKey[dict[str, _TokenState]] = HassKey(f"{DOMAIN}_tokens")


# -- token requests -------------------------------------------------------------


def _raise_token_error(err: aiohttp.ClientError, domain: str) -> NoReturn:
    """Re-raise a failed token request as HA's matching OAuth2 token error."""
    if not isinstance(err, aiohttp.ClientResponseError):
        raise OAuth2TokenRequestConnectionError(domain=domain) from err
    kwargs: dict[str, Any] = {
        "request_info": err.request_info,
        "history": err.history,
        "status": err.status,
        "message": err.message,
        "headers": err.headers,
        "domain": domain,
    }
    if err.status == HTTPStatus.TOO_MANY_REQUESTS or err.status >= 500:
        raise OAuth2TokenRequestTransientError(**kwargs) from err
    if 400 <= err.status < 500:
        raise OAuth2TokenRequestReauthError(**kwargs) from err
    raise OAuth2TokenRequestError(**kwargs) from err


class VendorImplementation(AuthImplementation):
    """A Sungaze application credential bound to one vendor's servers.

    Vendors subclass it in their flow module: `authorization_server` says where
    the vendor signs in (and where it is beside an overridden API URL, for the
    simulators); `_token_request` how the vendor wants its token requests.
    """

    @classmethod
    def authorization_server(cls, url: str | None) -> AuthorizationServer:
        """The vendor's authorization server, or the one beside an API URL."""
        raise NotImplementedError

    @classmethod
    def bind(
        cls,
        hass: HomeAssistant,
        credential: config_entry_oauth2_flow.AbstractOAuth2Implementation,
        url: str | None,
    ) -> Self:
        """This vendor's implementation of a stored credential (and its URLs)."""
        if not isinstance(
            credential, config_entry_oauth2_flow.LocalOAuth2Implementation
        ):
            raise TypeError(f"Unexpected OAuth implementation {credential!r}")
        return cls(
            hass,
            credential.domain,
            ClientCredential(
                credential.client_id, credential.client_secret, credential.name
            ),
            cls.authorization_server(url),
        )

    async def _post(self, **kwargs: Any) -> dict[str, Any]:
        """Post a token request; check the answer, map failures."""
        session = async_get_clientsession(self.hass)
        try:
            response = await session.post(self.token_url, **kwargs)
            async with response:
                if response.status >= 400:
                    # The body names the OAuth error; never log it (it can echo
                    # the refresh token, as Spring's invalid_grant does).
                    _LOGGER.debug(
                        "Token request to %s failed with %s",
                        URL(self.token_url).origin(),
                        response.status,
                    )
                response.raise_for_status()
                return cast(dict[str, Any], await response.json(content_type=None))
        except aiohttp.ClientError as err:
            _raise_token_error(err, DOMAIN)


# -- token life -----------------------------------------------------------------


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


async def async_token_provider(
    hass: HomeAssistant,
    entry: ConfigEntry,
    implementation: type[VendorImplementation],
    url: str | None,
) -> EntryTokens:
    """The token provider of an OAuth entry, bound to its vendor's servers."""
    credential = await config_entry_oauth2_flow.async_get_config_entry_implementation(
        hass, entry
    )
    return EntryTokens(hass, entry, implementation.bind(hass, credential, url))


@callback
def async_forget_tokens(hass: HomeAssistant, entry_id: str) -> None:
    """Drop an entry's token bookkeeping when the entry is removed."""
    hass.data.get(_STATES, {}).pop(entry_id, None)
