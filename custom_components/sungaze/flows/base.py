"""The contract of a vendor's config-flow steps, and what all of them share.

Each vendor has one module in `flows/` with one class that subclasses
`SungazeFlowBase` and names its vendor. `config_flow.SungazeConfigFlow`
combines all of them; it never branches on the vendor. A vendor class
provides, by naming convention (step ids start with the vendor key):

- `async_step_<vendor>`: the menu entry (credentials form, then identify);
- `async_step_<vendor>_reauth(user_input=None)`: optional; without it the
  shared `reauth_confirm` step asks again for `reauth_key`;
- `async_step_<vendor>_reconfigure(user_input=None)`: optional; without it the
  entry cannot be reconfigured;
- `options_fields(entry, options)`: optional extra options (e.g. a plan).

Every check of credentials goes through `_async_identify_with`, the one
mapping of connector errors to form errors.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import Any, ClassVar

from homeassistant.config_entries import ConfigEntry, ConfigFlowResult
from homeassistant.const import CONF_API_KEY, CONF_URL
from homeassistant.data_entry_flow import section
from homeassistant.helpers import config_entry_oauth2_flow
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol

from ..connectors.base import (
    AccountInfo,
    ApiRetiredError,
    AuthFailedError,
    ConnectionFailedError,
    Connector,
    NoDataError,
    RateLimitedError,
    SungazeError,
)
from ..const import CONF_SITE_ID, CONF_VENDOR, LOGGER
from ..coordinator import build_connector, shared_limiter
from ..model import Site

SECTION_ADVANCED = "advanced"
PASSWORD_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
USERNAME_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.TEXT, autocomplete="username")
)


class SungazeFlowBase(config_entry_oauth2_flow.AbstractOAuth2FlowHandler):
    """Shared steps and helpers of every vendor's config flow."""

    DOMAIN = "sungaze"
    vendor: ClassVar[str] = ""
    """The vendor key (menu option and step-id prefix); empty on the base."""
    reauth_key: ClassVar[str] = CONF_API_KEY
    """The secret the shared reauth step asks for again."""
    menu_order: ClassVar[int] = 0
    """Place in the menu: vendors (0) alphabetically, then combinations (1)."""
    polls: ClassVar[bool] = True
    """False for entries without an update interval to choose (pushed, combined)."""

    def __init__(self) -> None:
        """Start with nothing chosen."""
        super().__init__()
        self._data: dict[str, Any] = {}
        self._sites: tuple[Site, ...] = ()
        self._account: AccountInfo | None = None

    @property
    def logger(self) -> logging.Logger:
        """The logger HA's OAuth flow reports to."""
        return LOGGER

    @classmethod
    def options_fields(
        cls, entry: ConfigEntry, options: Mapping[str, Any]
    ) -> dict[vol.Marker, Any]:
        """Vendor options shown before the interval (none by default)."""
        return {}

    async def _async_identify(
        self, data: Mapping[str, Any], errors: dict[str, str]
    ) -> AccountInfo | None:
        """Try the credentials through the shared limiter; fill `errors` on failure."""
        _, limiter = shared_limiter(self.hass, data)
        return await self._async_identify_with(
            build_connector(self.hass, data, limiter), errors
        )

    async def _async_identify_with(
        self, connector: Connector, errors: dict[str, str]
    ) -> AccountInfo | None:
        """Try a connector; fill `errors` with the reason when it fails."""
        try:
            return await connector.async_identify()
        except AuthFailedError:
            errors["base"] = "invalid_auth"
        except ApiRetiredError:
            errors["base"] = "api_retired"
        except RateLimitedError:
            errors["base"] = "rate_limited"
        except NoDataError:
            errors["base"] = "no_data"
        except ConnectionFailedError:
            errors["base"] = "cannot_connect"
        except SungazeError:
            LOGGER.exception("Unexpected answer while checking credentials")
            errors["base"] = "unknown"
        finally:
            # Only a check: release what it opened (sessions, broker links).
            await connector.async_close()
        return None

    @staticmethod
    def _key_schema(defaults: Mapping[str, Any]) -> vol.Schema:
        """The API key, and the API URL override in a collapsed section."""
        return vol.Schema(
            {
                vol.Required(CONF_API_KEY): PASSWORD_SELECTOR,
                vol.Required(SECTION_ADVANCED): section(
                    vol.Schema(
                        {
                            vol.Optional(
                                CONF_URL,
                                description={"suggested_value": defaults.get(CONF_URL)},
                            ): URL_SELECTOR
                        }
                    ),
                    {"collapsed": True},
                ),
            }
        )

    async def async_step_site(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick one of the account's sites."""
        if user_input is not None:
            site = next(s for s in self._sites if s.id == user_input[CONF_SITE_ID])
            return await self._async_create_site(site)
        configured = {entry.unique_id for entry in self._async_current_entries()}
        options = [
            SelectOptionDict(value=site.id, label=site.name)
            for site in self._sites
            if f"{self._data[CONF_VENDOR]}_{site.id}" not in configured
        ]
        if not options:
            return self.async_abort(reason="already_configured")
        return self.async_show_form(
            step_id="site",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_SITE_ID): SelectSelector(
                        SelectSelectorConfig(options=options)
                    )
                }
            ),
        )

    async def _async_create_site(self, site: Site) -> ConfigFlowResult:
        """One entry per site: unique id `<vendor>_<site id>`."""
        await self.async_set_unique_id(f"{self._data[CONF_VENDOR]}_{site.id}")
        self._abort_if_unique_id_configured()
        return self.async_create_entry(
            title=site.name, data={**self._data, CONF_SITE_ID: site.id}
        )


def flatten(base: Mapping[str, Any], user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a form into entry data; an emptied URL override is removed."""
    data = {**base, **user_input}
    advanced = data.pop(SECTION_ADVANCED, {})
    data.pop(CONF_URL, None)
    if url := advanced.get(CONF_URL):
        data[CONF_URL] = url
    return data


def same_account(entry: ConfigEntry, account: AccountInfo) -> bool:
    """Whether re-entered credentials still reach the entry's site or account."""
    if CONF_SITE_ID in entry.data:
        return any(site.id == entry.data[CONF_SITE_ID] for site in account.sites)
    return entry.unique_id == f"{entry.data[CONF_VENDOR]}_{account.unique_id}"
