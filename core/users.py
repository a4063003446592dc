"""The user a service is acting for, as the domain services type it.

Views hand services `request.user`, which may be anonymous; background work passes
None (the system). Services record the acting user on the rows they write only when
it is a real, authenticated user: `recorded_user` says which.
"""

from __future__ import annotations

from typing import TypeAlias

from django.contrib.auth.models import AnonymousUser, User

ActingUser: TypeAlias = User | AnonymousUser


def recorded_user(user: ActingUser | None) -> User | None:
    """`user` when it is authenticated, else None (the system or an anonymous caller)."""
    if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated:
        return None
    return user
