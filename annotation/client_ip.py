"""The client's address, as the login lockout (django-axes) and the API throttles see it."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or behind STEPWISE_PROXY_COUNT proxies the address the outermost of them
    saw (X-Forwarded-For, counted from the right: entries further left are the client's own
    claim). With no proxy configured X-Forwarded-For is ignored, so a client cannot pick a
    fresh address per request to dodge a lockout or a throttle."""
    remote = request.META.get("REMOTE_ADDR") or ""
    proxies = settings.STEPWISE_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote
    addresses = [a.strip() for a in forwarded.split(",") if a.strip()]
    if not addresses:
        return remote
    return addresses[-min(proxies, len(addresses))]
