"""Tigo: Premium API v3 (`premium.py`) and free accounts via the app API (`mapi.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from ..base import RequestBudget, RequestLimiter
from .common import (
    ACCOUNT_APP,
    ACCOUNT_KINDS,
    ACCOUNT_PREMIUM,
    CONF_ACCOUNT,
    TigoClient,
)
from .mapi import TigoAppConnector
from .premium import TigoPremiumConnector


class TigoConnector(TigoClient):
    """The registry's Tigo: builds the client of the entry's account kind."""

    @staticmethod
    def _kind(data: Mapping[str, Any]) -> type[TigoClient]:
        if data.get(CONF_ACCOUNT, ACCOUNT_PREMIUM) == ACCOUNT_APP:
            return TigoAppConnector
        return TigoPremiumConnector

    @classmethod
    def budget_for(
        cls, data: Mapping[str, Any], options: Mapping[str, Any]
    ) -> RequestBudget:
        """The minute cap of the entry's access kind."""
        return cls._kind(data).budget

    @classmethod
    def from_config(
        cls,
        session: aiohttp.ClientSession,
        data: Mapping[str, Any],
        limiter: RequestLimiter | None = None,
    ) -> TigoClient:
        """The Premium (API v3) or the app-API client, from `account`."""
        return cls._kind(data).from_config(session, data, limiter)


__all__ = [
    "ACCOUNT_APP",
    "ACCOUNT_KINDS",
    "ACCOUNT_PREMIUM",
    "CONF_ACCOUNT",
    "TigoClient",
    "TigoConnector",
]
