"""Ports: how a lower layer calls into a higher one without importing it.

The apps are layered (docs/architecture.md): `logistics` may not import `orders`,
yet when tracking arrives the order workflow must roll its lines forward. The lower
layer declares what it needs as a `Port` typed by a Protocol, next to the code that
calls it; the higher layer fills the port in its `AppConfig.ready()`. Every call site
is then explicit (`progress.impl.shipments_progressed(...)`), unlike a model signal,
and an unfilled port fails loudly instead of silently doing nothing.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")


class Port(Generic[T]):
    """One named slot a higher layer fills once, at startup, with its implementation."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._impl: T | None = None

    def register(self, impl: T) -> None:
        """Fill the port. A second, different implementation is a wiring mistake."""
        if self._impl is not None and self._impl is not impl:
            raise ImproperlyConfigured(f"Port {self.name} is already filled by {self._impl!r}.")
        self._impl = impl

    @property
    def impl(self) -> T:
        if self._impl is None:
            raise ImproperlyConfigured(
                f"Port {self.name} has no implementation: the app that fills it in its "
                "AppConfig.ready() is missing from INSTALLED_APPS."
            )
        return self._impl

    def __repr__(self) -> str:
        return f"<Port {self.name}: {'filled' if self._impl is not None else 'empty'}>"
