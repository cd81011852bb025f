"""API throttles whose rates are read per request from REST_FRAMEWORK's
DEFAULT_THROTTLE_RATES (DRF reads them once, at import), so settings and tests can change
them; a rate of None turns the throttle off without touching the cache."""

from __future__ import annotations

from typing import Any

from rest_framework import throttling
from rest_framework.request import Request
from rest_framework.settings import api_settings

from annotation.client_ip import client_ip


class _RateFromSettings:
    """DRF throttles are made per request and parse `get_rate()` then: the rate is current."""

    scope: str | None

    def get_rate(self) -> str | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope or "")
        return None if rate is None else str(rate)

    def get_ident(self, request: Request) -> str:
        return client_ip(request._request)


class AnonRateThrottle(_RateFromSettings, throttling.AnonRateThrottle):
    """Unauthenticated calls, per client address (setting key `anon`)."""


class UserRateThrottle(_RateFromSettings, throttling.UserRateThrottle):
    """Authenticated calls, per user (setting key `user`)."""


class LoginRateThrottle(_RateFromSettings, throttling.SimpleRateThrottle):
    """The token endpoint, per client address whoever calls it (setting key `login`)."""

    scope = "login"

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
