"""Tigo: Premium API v3 (`premium.py`) and free accounts via the app API (`mapi.py`)."""

from __future__ import annotations

from .common import (
    ACCOUNT_APP,
    ACCOUNT_KINDS,
    ACCOUNT_PREMIUM,
    CONF_ACCOUNT,
    TigoConnector,
)

__all__ = [
    "ACCOUNT_APP",
    "ACCOUNT_KINDS",
    "ACCOUNT_PREMIUM",
    "CONF_ACCOUNT",
    "TigoConnector",
]
