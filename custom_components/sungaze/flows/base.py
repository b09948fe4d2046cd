"""The contract of a vendor's config-flow steps, and what all of them share.

Each vendor has one module in `flows/` with one class that subclasses
`SungazeFlowBase`, sets `vendor`, and is listed in `flows.FLOWS`.
`config_flow.SungazeConfigFlow` combines all of them and never branches on the
vendor. A vendor class provides, by naming convention (step ids start with the
vendor key):

- `async_step_<vendor>`: the menu entry (credentials form, then identify);
- `async_step_<vendor>_reauth(user_input=None)`: optional; without it the
  shared `reauth_confirm` step asks again for `reauth_key` (or, for an entry
  holding an OAuth grant, `reauth_oauth` signs in again);
- `async_step_<vendor>_reconfigure(user_input=None)`: optional; without it the
  entry cannot be reconfigured (`_async_reconfigure_key` is the ready-made
  step for API-key vendors);
- `options_fields(entry, options)`: optional extra options (e.g. a plan), and
  `options_from_input(entry, user_input)` to turn the form into stored options;

Every class is mixed into one flow, so a class attribute or a plain method read
through `self` may be another vendor's: shared code reaches a vendor's own
attributes and hooks through `self.flow_for(vendor)`, and vendor code names
its own class.

Vendors that sign in with OAuth 2.0 set `oauth_implementation` (their
`oauth.VendorImplementation`) and override `_async_oauth_granted` (what the new
token reaches: create or update the entry); optionally `_async_oauth_prepare`
(before the sign-in starts), `oauth_reauth_fields` (fields `reauth_oauth` may
take again) and `credential_placeholders` (texts of the credentials dialog).
Their menu step stores the form with `flatten` in `self._data` and continues
with `async_step_pick_implementation()`.

Input: every step that takes user input calls `validate_input(user_input)`
first and shows its errors instead of sending a request: it trims text fields
(not passwords), bounds their length, refuses control characters, and accepts
a URL override only as http(s) with a host that is not link-local or a cloud
metadata service. `_async_identify_with` checks the URL again, so no request
ever goes to a refused address.

Every check of credentials goes through `_async_identify_with`, the one
mapping of connector errors to form errors (and, through `async_abort`, to
abort reasons of the same names).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
import ipaddress
import logging
import socket
from typing import Any, ClassVar
import unicodedata
from urllib.parse import urlsplit

from homeassistant.config_entries import ConfigEntry, ConfigFlowResult
from homeassistant.const import CONF_API_KEY, CONF_PASSWORD, CONF_URL, CONF_USERNAME
from homeassistant.core import HomeAssistant
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
import probatio

from ..connectors.base import (
    AccountInfo,
    ApiRetiredError,
    AuthFailedError,
    BlockedError,
    ConnectionFailedError,
    Connector,
    NoDataError,
    RateLimitedError,
    SungazeError,
    TokenProvider,
)
from ..const import CONF_SITE_ID, CONF_VENDOR, DOMAIN, LOGGER, VENDOR_NAMES
from ..coordinator import build_connector, shared_limiter
from ..model import Site
from ..oauth import EntryTokens, VendorImplementation, async_token_provider

SECTION_ADVANCED = "advanced"
CONF_AUTH_IMPLEMENTATION = "auth_implementation"
PASSWORD_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
USERNAME_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.TEXT, autocomplete="username")
)

MAX_TEXT_LENGTH = 256
"""Longest text field (usernames, keys, passwords, hosts) a form accepts."""
MAX_URL_LENGTH = 2048
NOT_TRIMMED = frozenset({CONF_PASSWORD})
"""Fields kept exactly as typed: a password may begin or end with a space."""
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
"""Host names of cloud metadata services (instance credentials live there)."""
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host literal means, in every form a resolver accepts.

    `inet_aton` also reads the legacy forms (`2852039166`, `0xa9.0xfe.0xa9.0xfe`,
    `169.254.43518`) that getaddrinfo turns into 169.254.169.254.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def url_error(url: str) -> str | None:
    """Why a URL override is refused (an error key), or None when it is fine.

    Only http(s) URLs with a host; never a link-local address (169.254.0.0/16,
    fe80::/10) or a cloud metadata service, which would hand out the machine's
    credentials. Names are not resolved: the check is on what was typed.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "invalid_url"
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in ("http", "https") or not host or port == 0:
        return "invalid_url"
    if host in METADATA_HOSTS:
        return "url_not_allowed"
    address = _address(host)
    if address is not None and (address.is_link_local or address in METADATA_ADDRESSES):
        return "url_not_allowed"
    return None


def validate_input(user_input: dict[str, Any]) -> dict[str, str]:
    """Check a form's text fields; return form errors (empty when all is fine).

    Trims text fields in place (passwords excepted), bounds their length
    (`MAX_TEXT_LENGTH`, `MAX_URL_LENGTH` for URLs), refuses control characters
    and checks a URL with `url_error`. Errors are keyed by field; a field inside
    a section reports under "base" (the frontend shows those at the top).
    """
    errors: dict[str, str] = {}

    def check(fields: dict[str, Any], error_key: str | None) -> None:
        for key, value in fields.items():
            if isinstance(value, dict):
                check(value, "base")
                continue
            if not isinstance(value, str):
                continue
            if key not in NOT_TRIMMED:
                value = fields[key] = value.strip()
            limit = MAX_URL_LENGTH if key == CONF_URL else MAX_TEXT_LENGTH
            if len(value) > limit:
                error: str | None = "too_long"
            elif any(unicodedata.category(char) == "Cc" for char in value):
                error = "control_characters"
            elif key == CONF_URL and value:
                error = url_error(value)
            else:
                error = None
            if error is not None:
                errors.setdefault(error_key or key, error)

    check(user_input, None)
    return errors


class SungazeFlowBase(config_entry_oauth2_flow.AbstractOAuth2FlowHandler):
    """Shared steps and helpers of every vendor's config flow."""

    DOMAIN = DOMAIN
    vendor: ClassVar[str] = ""
    """The vendor key (menu option and step-id prefix); empty on the base."""
    reauth_key: ClassVar[str] = CONF_API_KEY
    """The secret the shared reauth step asks for again."""
    oauth_implementation: ClassVar[type[VendorImplementation] | None] = None
    """How the vendor's OAuth servers are used; None: the vendor has no OAuth."""
    oauth_reauth_fields: ClassVar[tuple[str, ...]] = ()
    """Secrets `reauth_oauth` may take again (optional; empty keeps the stored)."""
    credential_placeholders: ClassVar[Mapping[str, str]] = {}
    """Texts for the application-credentials dialog (portal links, callbacks)."""
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
    ) -> dict[probatio.Marker, Any]:
        """Vendor options shown before the interval (none by default)."""
        return {}

    @classmethod
    def options_from_input(
        cls, entry: ConfigEntry, user_input: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The options to store from the submitted form (default: as submitted)."""
        return dict(user_input)

    @classmethod
    def flow_for(cls, vendor: str) -> type[SungazeFlowBase]:
        """The vendor's own class among those this flow combines."""
        for klass in cls.__mro__:
            if (
                issubclass(klass, SungazeFlowBase)
                and klass.__dict__.get("vendor") == vendor
            ):
                return klass
        raise KeyError(vendor)

    # -- OAuth hooks ----------------------------------------------------------

    @classmethod
    def bind_oauth(
        cls,
        hass: HomeAssistant,
        credential: config_entry_oauth2_flow.AbstractOAuth2Implementation,
        url: str | None,
    ) -> VendorImplementation:
        """The stored credential bound to this vendor's OAuth servers."""
        if cls.oauth_implementation is None:
            raise TypeError(f"{cls.vendor or cls.__name__} does not use OAuth")
        return cls.oauth_implementation.bind(hass, credential, url)

    @classmethod
    async def async_token_provider(
        cls, hass: HomeAssistant, entry: ConfigEntry
    ) -> EntryTokens:
        """The durable token provider of one of this vendor's OAuth entries."""
        if cls.oauth_implementation is None:
            raise TypeError(f"{cls.vendor or cls.__name__} does not use OAuth")
        return await async_token_provider(
            hass, entry, cls.oauth_implementation, entry.data.get(CONF_URL)
        )

    async def _async_oauth_prepare(self) -> None:
        """Called before the sign-in starts (e.g. to serve a vendor callback)."""

    async def _async_oauth_granted(self, data: dict[str, Any]) -> ConfigFlowResult:
        """The vendor issued a token (`data`): create or update the entry."""
        raise NotImplementedError

    # -- credentials ------------------------------------------------------------

    async def _async_identify(
        self,
        data: Mapping[str, Any],
        errors: dict[str, str],
        *,
        options: Mapping[str, Any] | None = None,
        token: TokenProvider | None = None,
    ) -> AccountInfo | None:
        """Try the credentials through the shared limiter; fill `errors` on failure."""
        if (url := data.get(CONF_URL)) and (error := url_error(str(url))):
            errors["base"] = error
            return None
        _, limiter = shared_limiter(self.hass, data, options)
        return await self._async_identify_with(
            build_connector(self.hass, data, limiter, token), errors
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
        except BlockedError:
            errors["base"] = "blocked"
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
    def _key_schema(defaults: Mapping[str, Any]) -> probatio.Schema:
        """The API key, and the API URL override in a collapsed section."""
        return probatio.Schema(
            {
                probatio.Required(CONF_API_KEY): PASSWORD_SELECTOR,
                probatio.Required(SECTION_ADVANCED): section(
                    probatio.Schema(
                        {
                            probatio.Optional(
                                CONF_URL,
                                description={"suggested_value": defaults.get(CONF_URL)},
                            ): URL_SELECTOR
                        }
                    ),
                    {"collapsed": True},
                ),
            }
        )

    # -- shared steps -----------------------------------------------------------

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
            data_schema=probatio.Schema(
                {
                    probatio.Required(CONF_SITE_ID): SelectSelector(
                        SelectSelectorConfig(options=options)
                    )
                }
            ),
        )

    async def _async_password_reauth(
        self,
        step_id: str,
        user_input: dict[str, Any] | None,
        *,
        check: Callable[
            [Mapping[str, Any], dict[str, str]], Awaitable[AccountInfo | None]
        ],
        reaches: Callable[[AccountInfo], bool],
        wrong: str,
    ) -> ConfigFlowResult:
        """Ask again for the refused password of a username login.

        `check` identifies with the new password, `reaches` says whether the
        login still reads the entry's site or account (else the `wrong` error).
        """
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None and not (errors := validate_input(user_input)):
            update = {CONF_PASSWORD: user_input[CONF_PASSWORD]}
            if (account := await check({**entry.data, **update}, errors)) is not None:
                if reaches(account):
                    return self.async_update_reload_and_abort(
                        entry, data_updates=update
                    )
                errors["base"] = wrong
        return self.async_show_form(
            step_id=step_id,
            data_schema=probatio.Schema(
                {probatio.Required(CONF_PASSWORD): PASSWORD_SELECTOR}
            ),
            description_placeholders={
                "title": entry.title,
                "username": entry.data[CONF_USERNAME],
            },
            errors=errors,
        )

    async def _async_create_site(self, site: Site) -> ConfigFlowResult:
        """One entry per site: unique id `<vendor>_<site id>`."""
        await self.async_set_unique_id(f"{self._data[CONF_VENDOR]}_{site.id}")
        self._abort_if_unique_id_configured()
        return self.async_create_entry(
            title=site.name, data={**self._data, CONF_SITE_ID: site.id}
        )

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask again for the secret the vendor refused (`reauth_key`)."""
        entry = self._get_reauth_entry()
        vendor = entry.data[CONF_VENDOR]
        key = self.flow_for(vendor).reauth_key
        errors: dict[str, str] = {}
        if user_input is not None and not (errors := validate_input(user_input)):
            data = {**entry.data, **user_input}
            if (account := await self._async_identify(data, errors)) is not None:
                if same_account(entry, account):
                    return self.async_update_reload_and_abort(
                        entry, data_updates=user_input
                    )
                errors["base"] = (
                    "wrong_site" if CONF_SITE_ID in entry.data else "wrong_account"
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=probatio.Schema({probatio.Required(key): PASSWORD_SELECTOR}),
            description_placeholders={
                "title": entry.title,
                "vendor": VENDOR_NAMES.get(vendor, vendor),
            },
            errors=errors,
        )

    async def async_step_reauth_oauth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Sign in with the vendor again (the grant expired or was revoked)."""
        entry = self._get_reauth_entry()
        vendor = entry.data[CONF_VENDOR]
        flow = self.flow_for(vendor)
        errors: dict[str, str] = {}
        if user_input is not None and not (errors := validate_input(user_input)):
            self._data = {
                key: entry.data[key]
                for key in (CONF_VENDOR, CONF_URL, *flow.oauth_reauth_fields)
                if key in entry.data
            }
            self._data.update(
                {key: value for key, value in user_input.items() if value}
            )
            await flow._async_oauth_prepare(self)
            return await self.async_step_pick_implementation(
                {"implementation": entry.data[CONF_AUTH_IMPLEMENTATION]}
            )
        return self.async_show_form(
            step_id="reauth_oauth",
            data_schema=probatio.Schema(
                {
                    probatio.Optional(key): PASSWORD_SELECTOR
                    for key in flow.oauth_reauth_fields
                }
            ),
            description_placeholders={
                "title": entry.title,
                "vendor": VENDOR_NAMES.get(vendor, vendor),
            },
            errors=errors,
        )

    async def _async_reconfigure_key(
        self, step_id: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """A ready reconfigure step for API-key vendors: new key, same site."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None and not (errors := validate_input(user_input)):
            data = flatten(entry.data, user_input)
            if (account := await self._async_identify(data, errors)) is not None:
                if same_account(entry, account):
                    return self.async_update_reload_and_abort(entry, data=data)
                errors["base"] = (
                    "wrong_site" if CONF_SITE_ID in entry.data else "wrong_account"
                )
        return self.async_show_form(
            step_id=step_id, data_schema=self._key_schema(entry.data), errors=errors
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
