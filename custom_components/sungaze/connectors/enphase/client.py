"""The Enphase HTTP client: two credentials on every call, 401 and 429 rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
import json
import re
from typing import Any, ClassVar

import aiohttp

from ...model import as_float
from ..base import (
    AuthFailedError,
    BadPayloadError,
    RateLimitedError,
    RequestBudget,
    RequestLimiter,
    TokenProvider,
)
from ..http import HttpConnector, HttpResponse
from ..parse import error_detail, next_month, parse_epoch
from .plans import DEFAULT_PLAN, PLANS
from .tables import DEFAULT_URL


class NotIncluded(Exception):
    """A 401 on an optional endpoint: the plan does not include it."""


class Refused(Exception):
    """Another 4xx on an optional endpoint: skip the feature, keep the rest."""


class EnphaseClient(HttpConnector):
    """Speaks the v4 API for one application key and one homeowner grant."""

    vendor: ClassVar[str] = "enphase"
    budget: ClassVar[RequestBudget] = PLANS[DEFAULT_PLAN].budget
    default_url: ClassVar[str | None] = DEFAULT_URL

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_key: str,
        token: TokenProvider,
        plan: str = DEFAULT_PLAN,
        base_url: str | None = None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        """Store the credentials; the plan's budget unless a limiter is shared."""
        self.plan = PLANS.get(plan, PLANS[DEFAULT_PLAN])
        super().__init__(
            session,
            base_url=base_url,
            limiter=limiter or RequestLimiter(self.plan.budget),
        )
        self._api_key = api_key
        self._token = token
        self._access_token: str | None = None
        self._notes: dict[str, str] = {}

    async def _auth_headers(
        self, *, rejected: bool = False
    ) -> Mapping[str, str] | None:
        """The homeowner's bearer token; a fresh one after a 401."""
        self._access_token = await self._token(
            rejected=self._access_token if rejected else None
        )
        return {"Authorization": f"Bearer {self._access_token}"}

    def _secrets(self) -> tuple[str, ...]:
        """The API key travels as a query parameter: keep it out of every error."""
        return (self._api_key, self._access_token or "")

    def _may_renew(self, response: HttpResponse) -> bool:
        """A key/client mismatch is no expired token: no refresh helps."""
        return "mismatch" not in error_text(response.text).lower()

    async def _get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        optional: bool = False,
    ) -> Any:
        """GET one endpoint through the budget; map every failure to a typed error.

        A 401 on a core endpoint gets one fresh token and one retry; on an
        optional one it means "not in the plan" (`NotIncluded`), never auth.
        """
        response = await self._request(
            "GET",
            path,
            params={**(params or {}), "key": self._api_key},
            headers={"Accept": "application/json"},
            renew=not optional,
        )
        status, body = response.status, response.text
        if status == 401:
            detail = error_text(body)
            if "mismatch" in detail.lower():
                raise AuthFailedError(
                    "The API key belongs to another application than the OAuth client"
                )
            if optional:
                raise NotIncluded(detail or "Not Authorized")
            raise AuthFailedError(f"Enphase refused the access token: {detail}")
        if status == 429:
            self._rate_limited(body)
        if 400 <= status < 500 and (status != 410 or optional):
            detail = error_text(body)
            if optional:
                raise Refused(f"{status} {detail}")
            if status == 403:
                raise AuthFailedError(f"No access to this system: {detail}")
            raise BadPayloadError(f"Enphase refused {path}: {status} {detail}")
        self._raise_for_status(response, path)
        return response.json(path)

    def _rate_limited(self, body: str) -> None:
        """A 429: block the limiter until the period the body names ends."""
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        if not isinstance(payload, Mapping):
            payload = {}
        period = str(payload.get("period") or "minute")
        if period not in ("minute", "month"):
            period = "minute"
        now = datetime.now(UTC)
        if (end := parse_epoch(payload.get("period_end"))) is not None:
            wait = (end - now).total_seconds()
        elif period == "month":
            wait = (next_month(now) - now).total_seconds()
        else:
            wait = 60.0
        wait = max(wait, 1.0)
        self._learn(payload, period)
        self.limiter.block(wait, period)
        if period == "month":
            self.limiter.month_used = max(
                self.limiter.month_used, self.limiter.budget.per_month or 0
            )
        raise RateLimitedError(
            f"Enphase {period} limit reached ({error_text(body)})",
            retry_after=wait,
            period=period,
        )

    def _learn(self, payload: Mapping[str, Any], period: str) -> None:
        """Believe the 429 over the options: its `limit` and plan are the truth.

        An application on Watt configured as Kilowatt would otherwise earn a 429
        at every setup; with the limit lowered the next one paces itself.
        """
        limit = as_float(payload.get("limit"))
        budget = self.limiter.budget
        field_name = "per_minute" if period == "minute" else "per_month"
        current = getattr(budget, field_name)
        if limit is not None and limit >= 1 and (current is None or limit < current):
            self.limiter.budget = replace(budget, **{field_name: int(limit)})
        match = re.search(r"plan (\w+)", str(payload.get("details") or ""))
        if match and match[1].lower() != self.plan.name:
            self._notes["plan"] = (
                f"Enphase says the application is on the {match[1]} plan, but "
                f"the options say {self.plan.name.title()}: change the options"
            )
            self._log_once("plan", self._notes["plan"])


def error_text(body: str) -> str:
    """The `details` (else `message`) of an Enphase error body."""
    return error_detail(body, "details", "message")
