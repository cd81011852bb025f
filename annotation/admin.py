"""The Django admin for site administration: accounts (including who may create projects).
django-axes adds its lockout records here too (deleting one unlocks that login)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from annotation.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = (*DjangoUserAdmin.list_display, "kind", "can_create_projects")
    list_filter = (*DjangoUserAdmin.list_filter, "kind", "can_create_projects")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Stepwise", {"fields": ("kind", "can_create_projects")}),
    )
