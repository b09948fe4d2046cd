"""Generac PWRcell: a web-portal refresh token, or email and password.

The default form takes the user id and refresh token the user copies from
Generac's web portal (README: "Generac PWRcell"). The collapsed "Advanced"
section takes email and password instead, together with the app identity
(client id and secret) the Generac app uses, which the user supplies:
Sungaze ships none. A sign-in answered with an `authChallenge` (MFA, a new
password) is shown as "finish signing in with Generac first".

Refresh tokens may rotate on use: the one the check ended with is stored,
never the pasted one, which may be dead by then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
import unicodedata

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.const import CONF_URL
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import TextSelector, TextSelectorConfig
import probatio

from ..connectors.base import AccountInfo
from ..connectors.generac import (
    AUTH_PASSWORD,
    AUTH_REFRESH_TOKEN,
    CONF_AUTH_METHOD,
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
    CONF_EMAIL,
    CONF_PASSWORD,
    CONF_REFRESH_TOKEN,
    CONF_USER_ID,
    GeneracConnector,
)
from ..const import CONF_SITE_ID, CONF_VENDOR, VENDOR_NAMES
from ..coordinator import build_connector, shared_limiter
from .base import (
    PASSWORD_SELECTOR,
    SECTION_ADVANCED,
    URL_SELECTOR,
    USERNAME_SELECTOR,
    SungazeFlowBase,
    same_account,
    validate_input,
)

VENDOR = "generac"
TEXT = TextSelector(TextSelectorConfig())
_SECRETS = (CONF_REFRESH_TOKEN, CONF_PASSWORD, CONF_CLIENT_SECRET)
_ADVANCED = (CONF_EMAIL, CONF_PASSWORD, CONF_CLIENT_ID, CONF_CLIENT_SECRET, CONF_URL)


MAX_TOKEN_LENGTH = 8192
"""A pasted refresh token's limit: Cognito's run to about 2,000 characters,
beyond the shared text limit."""


def _validate(user_input: dict[str, Any]) -> dict[str, str]:
    """The shared input checks, with the long refresh token checked by itself."""
    token = user_input.pop(CONF_REFRESH_TOKEN, None)
    errors = validate_input(user_input)
    if token is None:
        return errors
    user_input[CONF_REFRESH_TOKEN] = token
    if not isinstance(token, str):
        return errors
    if len(token) > MAX_TOKEN_LENGTH:
        errors.setdefault(CONF_REFRESH_TOKEN, "too_long")
    elif any(unicodedata.category(char) == "Cc" for char in token.strip()):
        errors.setdefault(CONF_REFRESH_TOKEN, "control_characters")
    return errors


def _clean(value: object) -> str:
    """A pasted value without surrounding blanks or quotes."""
    return str(value or "").strip().strip("\"'").strip()


def _advanced_schema(
    defaults: Mapping[str, Any], *, password_only: bool
) -> probatio.Schema:
    """The collapsed section: email and password, the app identity, the API URL."""
    fields: dict[str, Any] = {}
    if not password_only:
        fields[CONF_EMAIL] = USERNAME_SELECTOR
        fields[CONF_PASSWORD] = PASSWORD_SELECTOR
    fields[CONF_CLIENT_ID] = TEXT
    fields[CONF_CLIENT_SECRET] = PASSWORD_SELECTOR
    fields[CONF_URL] = URL_SELECTOR
    return probatio.Schema(
        {
            probatio.Optional(
                key,
                description={
                    "suggested_value": None if key in _SECRETS else defaults.get(key)
                },
            ): selector
            for key, selector in fields.items()
        }
    )


class GeneracFlow(SungazeFlowBase):
    """The Generac PWRcell steps of the config flow."""

    vendor = VENDOR

    def _generac_form_data(
        self,
        base: Mapping[str, Any],
        user_input: Mapping[str, Any],
        errors: dict[str, str],
    ) -> dict[str, Any] | None:
        """Entry data from the form: one sign-in way, complete; else an error."""
        typed = {
            **(user_input.get(SECTION_ADVANCED) or {}),
            **{k: v for k, v in user_input.items() if k != SECTION_ADVANCED},
        }
        # A password may begin or end with a blank; pasted values lose theirs.
        form = {
            key: str(value or "") if key == CONF_PASSWORD else _clean(value)
            for key, value in typed.items()
        }
        data = {
            key: value
            for key, value in base.items()
            if key
            not in (*_ADVANCED, CONF_USER_ID, CONF_REFRESH_TOKEN, CONF_AUTH_METHOD)
        }
        data[CONF_VENDOR] = VENDOR
        if form.get(CONF_URL):
            data[CONF_URL] = form[CONF_URL]
        if form.get(CONF_REFRESH_TOKEN):
            if not form.get(CONF_USER_ID):
                errors[CONF_USER_ID] = "user_id_required"
                return None
            token = form[CONF_REFRESH_TOKEN]
            # A check that failed after Generac rotated the pasted token: reuse the new one.
            token = self._generac_rotated_tokens.get(token, token)
            return {
                **data,
                CONF_AUTH_METHOD: AUTH_REFRESH_TOKEN,
                CONF_USER_ID: form[CONF_USER_ID],
                CONF_REFRESH_TOKEN: token,
            }
        if form.get(CONF_EMAIL) and form.get(CONF_PASSWORD):
            if not (form.get(CONF_CLIENT_ID) and form.get(CONF_CLIENT_SECRET)):
                errors["base"] = "app_identity_required"
                return None
            return {
                **data,
                CONF_AUTH_METHOD: AUTH_PASSWORD,
                **{
                    k: form[k]
                    for k in (
                        CONF_EMAIL,
                        CONF_PASSWORD,
                        CONF_CLIENT_ID,
                        CONF_CLIENT_SECRET,
                    )
                },
            }
        errors["base"] = "sign_in_required"
        return None

    @property
    def _generac_rotated_tokens(self) -> dict[str, str]:
        """Pasted refresh tokens Generac replaced during a failed check."""
        rotated: dict[str, str] = self.__dict__.setdefault("_generac_rotated", {})
        return rotated

    async def _async_generac_check(
        self,
        data: dict[str, Any],
        errors: dict[str, str],
        options: Mapping[str, Any] | None = None,
    ) -> tuple[AccountInfo, dict[str, Any]] | None:
        """Sign in or refresh, list the homes; return them and the data to store."""
        _, limiter = shared_limiter(self.hass, data, options)
        connector = build_connector(self.hass, data, limiter)
        if not isinstance(connector, GeneracConnector):  # pragma: no cover
            raise TypeError(connector)
        account = await self._async_identify_with(connector, errors)
        current = connector.credentials
        pasted = data.get(CONF_REFRESH_TOKEN)
        if (
            pasted
            and current[CONF_REFRESH_TOKEN]
            and current[CONF_REFRESH_TOKEN] != pasted
        ):
            self._generac_rotated_tokens[pasted] = current[CONF_REFRESH_TOKEN]
        if account is None:
            if errors.get("base") == "invalid_auth" and connector.challenged:
                errors["base"] = "auth_challenge"
            return None
        return account, {**data, **current}

    def _generac_schema(self, defaults: Mapping[str, Any]) -> probatio.Schema:
        suggested = {k: v for k, v in defaults.items() if k not in _SECRETS}
        return probatio.Schema(
            {
                probatio.Optional(
                    CONF_USER_ID,
                    description={"suggested_value": suggested.get(CONF_USER_ID)},
                ): TEXT,
                probatio.Optional(CONF_REFRESH_TOKEN): PASSWORD_SELECTOR,
                probatio.Required(SECTION_ADVANCED): section(
                    _advanced_schema(suggested, password_only=False),
                    {"collapsed": True},
                ),
            }
        )

    async def async_step_generac(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A web-portal refresh token, or (Advanced) email, password, app identity."""
        errors: dict[str, str] = {}
        if user_input is not None and not (errors := _validate(user_input)):
            data = self._generac_form_data({}, user_input, errors)
            if (
                data is not None
                and (found := await self._async_generac_check(data, errors)) is not None
            ):
                account, self._data = found
                self._sites = account.sites
                if len(account.sites) == 1:
                    return await self._async_create_site(account.sites[0])
                return await self.async_step_site()
        return self.async_show_form(
            step_id="generac",
            data_schema=self._generac_schema({}),
            errors=errors,
        )

    async def async_step_generac_reauth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask again for what the entry was set up with: a token, or the password."""
        entry = self._get_reauth_entry()
        by_password = entry.data.get(CONF_AUTH_METHOD) == AUTH_PASSWORD
        errors: dict[str, str] = {}
        if user_input is not None and not (errors := _validate(user_input)):
            if by_password:
                advanced = user_input.get(SECTION_ADVANCED) or {}
                form = {
                    SECTION_ADVANCED: {
                        CONF_EMAIL: user_input.get(CONF_EMAIL),
                        CONF_PASSWORD: user_input.get(CONF_PASSWORD),
                        CONF_CLIENT_ID: advanced.get(CONF_CLIENT_ID)
                        or entry.data.get(CONF_CLIENT_ID),
                        CONF_CLIENT_SECRET: advanced.get(CONF_CLIENT_SECRET)
                        or entry.data.get(CONF_CLIENT_SECRET),
                        CONF_URL: advanced.get(CONF_URL) or entry.data.get(CONF_URL),
                    }
                }
            else:
                form = {
                    **user_input,
                    SECTION_ADVANCED: {CONF_URL: entry.data.get(CONF_URL)},
                }
            data = self._generac_form_data(entry.data, form, errors)
            if (
                data is not None
                and (
                    found := await self._async_generac_check(
                        data, errors, entry.options
                    )
                )
                is not None
            ):
                account, data = found
                if same_account(entry, account):
                    return self.async_update_reload_and_abort(entry, data=data)
                errors["base"] = "wrong_site"
        defaults = {k: v for k, v in entry.data.items() if k not in _SECRETS}
        if by_password:
            schema = probatio.Schema(
                {
                    probatio.Required(
                        CONF_EMAIL,
                        description={"suggested_value": defaults.get(CONF_EMAIL)},
                    ): USERNAME_SELECTOR,
                    probatio.Required(CONF_PASSWORD): PASSWORD_SELECTOR,
                    probatio.Required(SECTION_ADVANCED): section(
                        _advanced_schema(defaults, password_only=True),
                        {"collapsed": True},
                    ),
                }
            )
        else:
            schema = probatio.Schema(
                {
                    probatio.Required(
                        CONF_USER_ID,
                        description={"suggested_value": defaults.get(CONF_USER_ID)},
                    ): TEXT,
                    probatio.Required(CONF_REFRESH_TOKEN): PASSWORD_SELECTOR,
                }
            )
        return self.async_show_form(
            step_id="generac_reauth",
            data_schema=schema,
            description_placeholders={
                "title": entry.title,
                "vendor": VENDOR_NAMES[VENDOR],
            },
            errors=errors,
        )

    async def async_step_generac_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Switch the sign-in way or its credentials; the home stays the same."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None and not (errors := _validate(user_input)):
            data = self._generac_form_data(entry.data, user_input, errors)
            if data is not None:
                data[CONF_SITE_ID] = entry.data[CONF_SITE_ID]
                if (
                    found := await self._async_generac_check(
                        data, errors, entry.options
                    )
                ) is not None:
                    account, data = found
                    if same_account(entry, account):
                        return self.async_update_reload_and_abort(entry, data=data)
                    errors["base"] = "wrong_site"
        return self.async_show_form(
            step_id="generac_reconfigure",
            data_schema=self._generac_schema(entry.data),
            errors=errors,
        )
