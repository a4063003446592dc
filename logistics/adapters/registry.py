"""Adapters by registry key (Provider.adapter)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from logistics.adapters.base import ProviderAdapter
    from logistics.models import Provider

_REGISTRY: dict[str, type[ProviderAdapter]] = {}


def register(key: str):
    """Class decorator: make an adapter class available under `key`."""

    def decorate(cls: type[ProviderAdapter]) -> type[ProviderAdapter]:
        _REGISTRY[key] = cls
        return cls

    return decorate


def adapter_for(provider: Provider) -> ProviderAdapter:
    """The adapter instance for a provider; KeyError names an unknown key."""
    _load_builtin()
    try:
        cls = _REGISTRY[provider.adapter]
    except KeyError:
        raise KeyError(f"No adapter registered as {provider.adapter!r}") from None
    return cls(provider)


def _load_builtin() -> None:
    # Imported lazily so that importing the registry never imports httpx at startup
    # of processes that do not talk to providers.
    import importlib.util

    from logistics.adapters import generic_http  # noqa: F401

    if importlib.util.find_spec("karrio") is None:  # the optional `carriers` extra
        return
    from logistics.adapters import karrio_carrier, karrio_transport

    karrio_transport.install()
    del karrio_carrier
