"""Secrets in the admin are write-only (core/secrets.py has the field and the crypto).

Whoever may change the object gets, per secret, a password box that is always blank
(blank keeps the stored value), a "remove" box and, where the model can make one, a
"generate" box; a generated value is shown once, in the message after saving. Everyone
else (view-only roles) sees "set" or "not set" instead of the field. Lists, history
and change messages only ever name the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import AdminSite
from django.db import models
from django.http import HttpRequest
from django.utils.text import capfirst

from core.secrets import GeneratedSecret, secret_fields, secret_mask


def _state_display(field_name: str, label: str) -> Callable[[models.Model], str]:
    @admin.display(description=label)
    def state(obj: models.Model) -> str:
        # Emptiness of the stored form, so showing the state never decrypts.
        return secret_mask(obj.__dict__.get(field_name) or "")

    return state


if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec

    _AdminBase = admin.ModelAdmin[Any]  # the mixin always sits in front of a ModelAdmin
else:
    _AdminBase = object


class SecretFieldsAdminMixin(_AdminBase):
    """Mix into a ModelAdmin whose model has EncryptedSecretFields (core/checks.py insists)."""

    def __init__(self, model: type[models.Model], admin_site: AdminSite) -> None:
        super().__init__(model, admin_site)
        self.secret_field_names = [f.name for f in secret_fields(model)]
        for field in secret_fields(model):
            # An attribute of this admin, so that the admin's readonly lookup finds it.
            setattr(
                self,
                f"{field.name}_state",
                _state_display(field.attname, str(capfirst(field.verbose_name))),
            )

    def _can_edit(self, request: HttpRequest, obj: models.Model | None) -> bool:
        if obj is None:
            return self.has_add_permission(request)
        return self.has_change_permission(request, obj)

    def get_fieldsets(self, request: HttpRequest, obj: models.Model | None = None) -> _FieldsetSpec:
        fieldsets = super().get_fieldsets(request, obj)
        if self._can_edit(request, obj):
            return fieldsets
        swap = {name: f"{name}_state" for name in self.secret_field_names}
        return [
            (title, {**options, "fields": [self._swap(item, swap) for item in options["fields"]]})
            for title, options in fieldsets
        ]

    @staticmethod
    def _swap(
        item: str | list[str] | tuple[str, ...], swap: dict[str, str]
    ) -> str | list[str] | tuple[str, ...]:
        if isinstance(item, str):
            return swap.get(item, item)
        if isinstance(item, list):
            return [swap.get(name, name) for name in item]
        return tuple(swap.get(name, name) for name in item)

    def get_readonly_fields(
        self, request: HttpRequest, obj: models.Model | None = None
    ) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        if not self._can_edit(request, obj):
            readonly += [f"{name}_state" for name in self.secret_field_names]
        return readonly

    def get_form(
        self,
        request: HttpRequest,
        obj: models.Model | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[forms.ModelForm[Any]]:
        form = super().get_form(request, obj, change=change, **kwargs)
        for name in self.secret_field_names:
            field = form.base_fields.get(name)
            if field is None:
                continue
            stored = obj.__dict__.get(name) if obj is not None else ""
            state = (
                "Set; stored encrypted and never shown. Leave blank to keep it."
                if stored
                else "Not set."
            )
            field.help_text = f"{field.help_text} {state}".strip()
        return form

    def save_model(
        self, request: HttpRequest, obj: models.Model, form: forms.ModelForm[Any], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        for name in self.secret_field_names:
            value = form.cleaned_data.get(name)
            if isinstance(value, GeneratedSecret):
                label = form.fields[name].label or name
                # Shown once: from here on it is only ciphertext.
                self.message_user(
                    request,
                    f"New {label.lower()} for {obj}. Copy it now, it will not be shown again: "
                    f"{value}",
                    level=messages.WARNING,
                )
