"""Authentication endpoints: the API token for scripts, and unlocking a locked-out login."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.api.permissions import IsStaff
from annotation.api.throttles import LoginRateThrottle
from annotation.services.users import user_api_token_get_or_create, user_login_unlock


class AuthTokenCreateApi(APIView):
    """Exchange a username and password for an API token (`Authorization: Token <key>`).

    Guarded like the login form: after STEPWISE_LOGIN_FAILURE_LIMIT wrong passwords for one
    username from one address, that pair is locked out (django-axes) and gets 429 until the
    cool-off passes or an administrator unlocks it; calls per address are throttled too.
    """

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (LoginRateThrottle,)

    class AuthTokenInputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=4096, trim_whitespace=False)

    @extend_schema(
        request=AuthTokenInputSerializer,
        responses={200: inline_serializer("AuthTokenOutput", {"token": serializers.CharField()})},
    )
    def post(self, request: Request) -> Response:
        data = self.AuthTokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request=request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if getattr(request, "axes_locked_out", False):
            raise LoginLockedOut()
        if user is None:
            raise ValidationError(
                {"non_field_errors": ["Unable to log in with the given username and password."]}
            )
        # A token is a login: the signal resets the failure count (AXES_RESET_ON_SUCCESS) and
        # records last_login, as the login form does.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        return Response({"token": user_api_token_get_or_create(user=user).key})


class LoginLockedOut(Throttled):
    default_detail = (
        "Too many failed logins for this username from your address. Try again later, reset "
        "your password, or ask an administrator to unlock the account."
    )
    default_code = "locked_out"

    def __init__(self) -> None:
        super().__init__(wait=settings.AXES_COOLOFF_TIME.total_seconds())


class AuthUnlockApi(APIView):
    """Administrators (staff) clear a username's failed logins so it can log in at once.
    Answers how many lockout records were removed (0 if there were none)."""

    permission_classes = (IsAuthenticated, IsStaff)

    class AuthUnlockInputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)

    @extend_schema(
        request=AuthUnlockInputSerializer,
        responses={
            200: inline_serializer(
                "AuthUnlockOutput",
                {
                    "username": serializers.CharField(),
                    "records_removed": serializers.IntegerField(),
                },
            )
        },
    )
    def post(self, request: Request) -> Response:
        data = self.AuthUnlockInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"]
        removed = user_login_unlock(username=username)
        return Response({"username": username, "records_removed": removed})
