"""Secrets at rest: provider tokens and webhook secrets are stored encrypted, never shown.

`EncryptedSecretField` keeps a Fernet token (AES-128-CBC + HMAC-SHA256, from the
`cryptography` library) in a text column. Reading the attribute decrypts on first
access; loading a row or saving it again never decrypts, so a list of providers costs
nothing and a wrong key only breaks the code that actually needs the secret.

Keys come from `CONSIGN_SECRETS_KEY` (comma-separated Fernet keys, newest first): the
first key encrypts, every key decrypts. Rotation: put a new key first, restart, run
`manage.py secrets_reencrypt`, then drop the old key (docs/operations.md). Without
the variable, development (`DJANGO_DEBUG=true`) uses a fixed key derived from a public
string (config/settings.py); production has none, refuses to read or write a secret
and fails `manage.py check` (core/checks.py).

The field is write-only in forms (`SecretFormField`: blank keeps the stored value, a
box generates a new one where the model says how), and `value_from_object` returns
ciphertext, so model forms, `dumpdata` and anything else built on it never see the
plaintext. Filtering on a secret's value cannot work (every token is different);
only `field=""` (not set) is meaningful.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, ItemsView, Iterable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django import forms
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.query_utils import DeferredAttribute
from django.http import HttpRequest
from django.utils.text import capfirst
from django.views.debug import SafeExceptionReporterFilter

MASK = "••••••••"


class SecretUndecryptable(ImproperlyConfigured):
    """A stored secret does not decrypt with any configured key (key missing or wrong)."""


def secrets_keys() -> tuple[str, ...]:
    """The configured Fernet keys, the one that encrypts first."""
    keys = tuple(key.strip() for key in settings.CONSIGN_SECRETS_KEY if key.strip())
    if not keys:
        raise ImproperlyConfigured(
            "CONSIGN_SECRETS_KEY is not set: stored secrets can be neither read nor written. "
            "Generate one with `python manage.py secrets_key_generate`."
        )
    return keys


@functools.lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        # Never echo the key: the message names the variable only.
        raise ImproperlyConfigured(
            "CONSIGN_SECRETS_KEY holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)."
        ) from None


def _fernet() -> MultiFernet:
    return _fernet_for(secrets_keys())


def secrets_key_generate() -> str:
    """A new random Fernet key, for CONSIGN_SECRETS_KEY."""
    return Fernet.generate_key().decode()


def secrets_keys_invalid(keys: Iterable[str]) -> list[int]:
    """Positions (1-based) of the keys in `keys` that are not Fernet keys."""
    bad = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.strip())
        except ValueError:
            bad.append(position)
    return bad


def secret_encrypt(plaintext: str) -> str:
    """The Fernet token of `plaintext` under the first key ("" stays "": no secret)."""
    if not plaintext:
        return ""
    return _fernet().encrypt(plaintext.encode()).decode()


def secret_decrypt(token: str) -> str:
    """The plaintext of a token written by `secret_encrypt`, with any configured key.

    Raises SecretUndecryptable when no key opens it.
    """
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUndecryptable(
            "A stored secret does not decrypt with any key in CONSIGN_SECRETS_KEY "
            "(was a key removed before `manage.py secrets_reencrypt` ran?)."
        ) from None


def secret_reencrypt(token: str) -> str:
    """The same secret encrypted under the first key (the plaintext never leaves Fernet)."""
    if not token:
        return ""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUndecryptable(
            "A stored secret does not decrypt with any key in CONSIGN_SECRETS_KEY."
        ) from None


def secret_is_ciphertext(value: str) -> bool:
    """Whether `value` is a token that a configured key opens."""
    try:
        secret_decrypt(value)
    except SecretUndecryptable:
        return False
    return bool(value)


def secret_mask(value: str) -> str:
    """How a secret is shown anywhere: whether it is set, never any of its characters."""
    return f"{MASK} (set)" if value else "not set"


class Ciphertext(str):
    """A token as loaded from the database: saved back as it is, decrypted when read."""

    __slots__ = ()


class GeneratedSecret(str):
    """A secret the form generated: the admin shows it once, right after saving."""

    __slots__ = ()


# A form answer meaning "leave the stored secret as it is".
KEEP = object()


class _SecretAttribute(DeferredAttribute):
    """Decrypts the loaded token on first read and keeps the plaintext on the instance.

    A data descriptor (it has __set__): Django's DeferredAttribute is not, and the value
    in the instance's __dict__ would otherwise be returned without ever calling __get__.
    """

    def __get__(self, instance: models.Model | None, cls: type[models.Model] | None = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if isinstance(value, Ciphertext):
            value = secret_decrypt(value)
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance: models.Model, value: Any) -> None:
        instance.__dict__[self.field.attname] = value

    def __delete__(self, instance: models.Model) -> None:
        instance.__dict__.pop(self.field.attname, None)


if TYPE_CHECKING:
    _SecretFieldBase = models.Field[str, str]  # set and read as text (the plaintext)
else:
    _SecretFieldBase = models.Field


class EncryptedSecretField(_SecretFieldBase):
    """A secret stored as a Fernet token in a text column; see the module docstring.

    `generate` (a callable returning a new secret) adds a "generate" box to forms;
    `input_validators` check a newly typed value (not the stored one, so an old secret
    in a format since tightened never blocks editing the rest of the object). Neither
    touches the database, so neither is part of migrations.
    """

    descriptor_class = _SecretAttribute
    description = "An encrypted secret"

    def __init__(
        self,
        *args: Any,
        generate: Callable[[], str] | None = None,
        input_validators: Sequence[Callable[[str], None]] = (),
        input_max_length: int = 512,
        **kwargs: Any,
    ) -> None:
        self.generate = generate
        self.input_validators = list(input_validators)
        self.input_max_length = input_max_length
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, Sequence[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("blank", None)
        if kwargs.get("default") == "":
            kwargs.pop("default")
        return name, path, args, kwargs

    def get_internal_type(self) -> str:
        return "TextField"

    def from_db_value(
        self, value: str | None, expression: object, connection: BaseDatabaseWrapper
    ) -> str | None:
        return Ciphertext(value) if value else value

    def to_python(self, value: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return str(value)

    def get_prep_value(self, value: Any) -> str | None:
        if value is None or isinstance(value, Ciphertext):
            return None if value is None else str(value)
        value = str(value)
        # "" is "no secret": kept as it is so that `.filter(secret="")` still works.
        return secret_encrypt(value) if value else ""

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        # The stored form as loaded (a token saved back untouched) or a new plaintext:
        # never the attribute, which would decrypt for nothing.
        return model_instance.__dict__.get(self.attname, self.get_default())

    def value_from_object(self, obj: models.Model) -> str:
        """Ciphertext: what model forms' initial data and serializers (dumpdata) get."""
        if self.attname not in obj.__dict__:
            getattr(obj, self.attname)  # deferred: load it
        value = obj.__dict__[self.attname]
        if not value or isinstance(value, Ciphertext):
            # "" for None too: the secret columns are NOT NULL (default ""), as a form or
            # dumpdata reads them.
            return "" if value is None else str(value)
        return secret_encrypt(value)

    def value_to_string(self, obj: models.Model) -> str:
        return self.value_from_object(obj)

    def save_form_data(self, instance: models.Model, data: Any) -> None:
        if data is KEEP:
            return
        setattr(instance, self.name, str(data))

    def formfield(self, **kwargs: Any) -> SecretFormField:
        # The admin passes a Textarea for text columns (formfield_overrides): a secret
        # is always the write-only widget.
        kwargs.pop("widget", None)
        return SecretFormField(
            generate=self.generate,
            validators=self.input_validators,
            max_length=self.input_max_length,
            label=kwargs.pop("label", None) or capfirst(self.verbose_name),
            help_text=kwargs.pop("help_text", None) or self.help_text,
        )


def secret_fields(model: type[models.Model]) -> list[EncryptedSecretField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, EncryptedSecretField)]


def secrets_reencrypt_all() -> dict[str, int]:
    """Re-encrypt every stored secret of every model under the first key.

    Returns the number of secrets re-encrypted per model label. One transaction per
    model with its rows locked, so a concurrent edit is never overwritten with an older
    value. Raises SecretUndecryptable (naming model, row and field, never a value) if a
    secret opens with none of the keys; that model's rows are then left as they were.

    This is key maintenance across apps, like a migration: the one place outside an
    app's own services that writes its secret columns, and it never changes a value.
    """
    from django.apps import apps
    from django.db import transaction

    done: dict[str, int] = {}
    for model in apps.get_models():
        fields = secret_fields(model)
        if not fields:
            continue
        names = [f.attname for f in fields]
        count = 0
        with transaction.atomic():
            rows = model._base_manager.select_for_update().order_by("pk")
            for pk, *tokens in rows.values_list("pk", *names):
                changes = {}
                for name, token in zip(names, tokens, strict=True):
                    if not token:
                        continue
                    try:
                        changes[name] = Ciphertext(secret_reencrypt(token))
                    except SecretUndecryptable:
                        raise SecretUndecryptable(
                            f"{model._meta.label} pk={pk} {name}: does not decrypt with any "
                            "key in CONSIGN_SECRETS_KEY."
                        ) from None
                if changes:
                    model._base_manager.filter(pk=pk).update(**changes)
                    count += len(changes)
        done[model._meta.label] = count
    return done


# --- Forms -----------------------------------------------------------------------


class SecretWidget(forms.MultiWidget):
    """A password box that never shows the value, a "remove" box and maybe a "generate" box."""

    template_name = "core/widgets/secret.html"

    def __init__(self, *, can_generate: bool, attrs: dict[str, Any] | None = None) -> None:
        widgets: dict[str, forms.Widget | type[forms.Widget]] = {
            "": forms.PasswordInput(
                render_value=False, attrs={"autocomplete": "new-password", "size": 60}
            ),
            "clear": forms.CheckboxInput(),
        }
        self.labels = ["", "Remove the secret"]
        if can_generate:
            widgets["generate"] = forms.CheckboxInput()
            self.labels.append("Generate a new secret (shown once, after saving)")
        super().__init__(widgets, attrs)

    def decompress(self, value: Any) -> list[None]:
        # Whatever is stored, the form starts blank: the value is never sent to a browser.
        return [None] * len(self.widgets)

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, [None] * len(self.widgets), attrs)
        context["widget"]["parts"] = list(
            zip(context["widget"]["subwidgets"], self.labels, strict=True)
        )
        return context


class SecretFormField(forms.MultiValueField):
    """Write-only input for an EncryptedSecretField.

    Cleans to KEEP (nothing typed or ticked), "" (remove), the typed value, or a
    GeneratedSecret.
    """

    default_error_messages = {
        "ambiguous": "Type a new value, generate one or remove it: one at a time.",
    }

    def __init__(
        self,
        *,
        generate: Callable[[], str] | None = None,
        validators: Sequence[Callable[[str], None]] = (),
        max_length: int = 512,
        **kwargs: Any,
    ) -> None:
        self.generate = generate
        fields: list[forms.Field] = [
            forms.CharField(
                required=False, max_length=max_length, strip=True, validators=list(validators)
            ),
            forms.BooleanField(required=False),
        ]
        if generate is not None:
            fields.append(forms.BooleanField(required=False))
        kwargs.pop("required", None)
        super().__init__(
            fields=fields,
            require_all_fields=False,
            required=False,
            widget=SecretWidget(can_generate=generate is not None),
            **kwargs,
        )

    def compress(self, data_list: list[Any]) -> str | object:
        text = data_list[0] if data_list else ""
        clear = bool(data_list[1]) if len(data_list) > 1 else False
        generate = bool(data_list[2]) if len(data_list) > 2 else False
        if sum([bool(text), clear, generate]) > 1:
            raise ValidationError(self.error_messages["ambiguous"], code="ambiguous")
        if generate and self.generate is not None:
            return GeneratedSecret(self.generate())
        if clear:
            return ""
        if text:
            return text
        return KEEP

    def has_changed(self, initial: Any, data: Any) -> bool:
        if self.disabled or not data:
            return False
        return any(bool(part) for part in data)


# --- Error reports ----------------------------------------------------------------


class SecretsExceptionReporterFilter(SafeExceptionReporterFilter):
    """Error reports (500 mails, the technical page) without secrets.

    Django masks only what a view marks with @sensitive_post_parameters or
    @sensitive_variables; this also masks every POST parameter and local variable
    named like a secret (token, secret, key, password, auth, signature), e.g. the admin
    form fields of a provider's webhook secret.
    """

    def get_post_parameters(self, request: HttpRequest | None) -> dict[str, Any]:
        params = super().get_post_parameters(request)
        if request is None or not self.is_active(request):
            return params
        if any(self.hidden_settings.search(name) for name in params):
            params = params.copy()
            for name in list(params):
                if self.hidden_settings.search(name):
                    params[name] = self.cleansed_substitute
        return params

    def get_traceback_frame_variables(
        self, request: HttpRequest | None, tb_frame: FrameType
    ) -> ItemsView[str, Any]:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        if not self.is_active(request):
            return variables
        return {
            name: self.cleansed_substitute if self.hidden_settings.search(name) else value
            for name, value in variables
        }.items()
