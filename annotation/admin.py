"""The Django admin for site administration: accounts (including who may create projects).
django-axes adds its lockout records here too (deleting one unlocks that login)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from annotation.models import User

# Django's own options, extended below (django-stubs types them per instance, not per class).
_base: Any = DjangoUserAdmin


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = (*_base.list_display, "kind", "can_create_projects")
    list_filter = (*_base.list_filter, "kind", "can_create_projects")
    fieldsets = (
        *_base.fieldsets,
        ("Stepwise", {"fields": ("kind", "can_create_projects")}),
    )
