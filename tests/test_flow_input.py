"""Hostile form input: refused with a form error, before any request is sent."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sungaze.const import DOMAIN
from custom_components.sungaze.flows.base import (
    MAX_TEXT_LENGTH,
    MAX_URL_LENGTH,
    url_error,
    validate_input,
)

from .conftest import EG4_PASSWORD, EG4_USERNAME, SITE_ID, SOLAREDGE_KEY
from .simulators.eg4 import EG4Simulator
from .simulators.solaredge import SolarEdgeSimulator


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("https://monitoringapi.solaredge.com/v2", None),
        ("http://127.0.0.1:8080/v2", None),
        ("http://192.168.1.20/api", None),
        ("http://[::1]:9000/", None),
        ("file:///etc/passwd", "invalid_url"),
        ("gopher://127.0.0.1:25/", "invalid_url"),
        ("ftp://example.com/", "invalid_url"),
        ("example.com/v2", "invalid_url"),
        ("http://", "invalid_url"),
        ("http://:80/", "invalid_url"),
        ("http://host:99999/", "invalid_url"),
        ("http://host:0/", "invalid_url"),
        ("http://[::1/", "invalid_url"),
        ("http://169.254.169.254/latest/meta-data/", "url_not_allowed"),
        ("http://169.254.1.7:8080/", "url_not_allowed"),
        ("http://[fe80::1]/", "url_not_allowed"),
        ("http://[::ffff:169.254.169.254]/", "url_not_allowed"),
        ("http://[fd00:ec2::254]/", "url_not_allowed"),
        ("http://100.100.100.200/", "url_not_allowed"),
        ("http://metadata.google.internal/computeMetadata/v1/", "url_not_allowed"),
        ("http://METADATA.google.internal./", "url_not_allowed"),
        ("http://metadata/", "url_not_allowed"),
        # Legacy spellings of 169.254.169.254 that resolvers still accept.
        ("http://2852039166/", "url_not_allowed"),
        ("http://0xa9.0xfe.0xa9.0xfe/", "url_not_allowed"),
        ("http://169.254.43518/", "url_not_allowed"),
    ],
)
def test_url_override(url: str, error: str | None) -> None:
    """Only http(s) with a host; never link-local or a metadata service."""
    assert url_error(url) == error


def test_text_fields_are_trimmed_bounded_and_clean() -> None:
    """Trim (not passwords), bound the length, refuse control characters."""
    form: dict[str, Any] = {
        "username": "  solarfan ",
        "password": " secret with spaces ",
        "port": 502,
        "advanced": {"url": " http://127.0.0.1:1/v2 "},
    }
    assert validate_input(form) == {}
    assert form == {
        "username": "solarfan",
        "password": " secret with spaces ",
        "port": 502,
        "advanced": {"url": "http://127.0.0.1:1/v2"},
    }
    assert validate_input({"api_key": "k" * MAX_TEXT_LENGTH}) == {}
    assert validate_input({"api_key": "k" * (MAX_TEXT_LENGTH + 1)}) == {
        "api_key": "too_long"
    }
    assert validate_input({"password": "pa\x00ss"}) == {
        "password": "control_characters"
    }
    assert validate_input({"username": "a\nb", "host": "h\x1b"}) == {
        "username": "control_characters",
        "host": "control_characters",
    }
    long_url = "http://127.0.0.1/" + "a" * MAX_URL_LENGTH
    assert validate_input({"url": long_url}) == {"url": "too_long"}
    assert validate_input({"url": "gopher://x/"}) == {"url": "invalid_url"}
    # A field inside a section reports at the top of the form.
    assert validate_input({"advanced": {"url": "http://169.254.169.254/"}}) == {
        "base": "url_not_allowed"
    }
    assert validate_input({"advanced": {"url": ""}}) == {}


async def _menu(hass: HomeAssistant, vendor: str) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": vendor}
    )
    return str(result["flow_id"])


@pytest.mark.parametrize(
    ("form", "errors"),
    [
        (
            {"api_key": SOLAREDGE_KEY, "advanced": {"url": "file:///etc/passwd"}},
            {"base": "invalid_url"},
        ),
        (
            {"api_key": SOLAREDGE_KEY, "advanced": {"url": "http://169.254.169.254/"}},
            {"base": "url_not_allowed"},
        ),
        ({"api_key": "KEY\r\nX-Injected: 1"}, {"api_key": "control_characters"}),
        ({"api_key": "k" * 300}, {"api_key": "too_long"}),
    ],
)
async def test_solaredge_form_refuses_without_a_request(
    phoenix: HomeAssistant,
    solaredge: SolarEdgeSimulator,
    form: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """The SolarEdge form shows the error; the simulator sees nothing."""
    flow_id = await _menu(phoenix, "solaredge")
    result = await phoenix.config_entries.flow.async_configure(
        flow_id, {"advanced": {}, **form}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert solaredge.calls == []
    # A key with stray spaces around it (pasted) is trimmed, not refused.
    result = await phoenix.config_entries.flow.async_configure(
        flow_id,
        {"api_key": f" {SOLAREDGE_KEY} ", "advanced": {"url": solaredge.base_url}},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["api_key"] == SOLAREDGE_KEY
    await phoenix.async_block_till_done()


async def test_eg4_portal_url_is_checked(
    hass: HomeAssistant, eg4: EG4Simulator
) -> None:
    """A typed portal URL pointing at a metadata service is refused in place."""
    flow_id = await _menu(hass, "eg4")
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            "username": EG4_USERNAME,
            "password": EG4_PASSWORD,
            "url": "http://metadata.google.internal/",
        },
    )
    assert result["errors"] == {"url": "url_not_allowed"}
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {"username": "x" * 257, "password": EG4_PASSWORD, "url": eg4.base_url},
    )
    assert result["errors"] == {"username": "too_long"}
    assert eg4.calls == []


async def test_enphase_form_is_checked(hass: HomeAssistant) -> None:
    """The Enphase key form refuses a link-local URL before the sign-in."""
    flow_id = await _menu(hass, "enphase")
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"api_key": "key", "advanced": {"url": "http://[fe80::1]:80/api/v4"}}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "enphase"
    assert result["errors"] == {"base": "url_not_allowed"}


async def test_cps_forms_are_checked(hass: HomeAssistant) -> None:
    """CPS hosts and topic prefixes refuse control characters."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "cps"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "cps_mqtt"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "host": "broker\n",
            "port": 1883,
            "tls": False,
            "topic_prefix": "cps\x00",
            "password": "p" * 300,
        },
    )
    # The host's trailing line break is trimmed; the NUL is not.
    assert result["errors"] == {
        "topic_prefix": "control_characters",
        "password": "too_long",
    }


async def test_stored_url_is_checked_again(
    hass: HomeAssistant, solaredge: SolarEdgeSimulator
) -> None:
    """An entry holding a refused URL (an old one) sends no request in reauth."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=f"solaredge_{SITE_ID}",
        data={
            "vendor": "solaredge",
            "api_key": "OLD",
            "site_id": SITE_ID,
            "url": "http://169.254.169.254/v2",
        },
    )
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"api_key": SOLAREDGE_KEY}
    )
    assert result["errors"] == {"base": "url_not_allowed"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"api_key": "bad\tkey"}
    )
    assert result["errors"] == {"api_key": "control_characters"}
    assert solaredge.calls == []
