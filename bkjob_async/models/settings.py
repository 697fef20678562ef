"""Rule: frozen shapes of a scope's and the platform's settings, with no wire knowledge.

Frozen shapes for a scope's and the platform's settings: notification policies, how bk-job
wants account passwords encrypted, and the scopes a user may use; no wire knowledge here."""

from __future__ import annotations

import types
from collections.abc import Mapping

import attrs

from ..config import Scope

__all__ = ["AuthorizedScope", "AuthorizedScopePage", "NotifyPolicy", "PasswordEncryption"]


def _frozen_channels(
    value: Mapping[str, Mapping[str, bool]],
) -> Mapping[str, Mapping[str, bool]]:
    return types.MappingProxyType({k: types.MappingProxyType(dict(v)) for k, v in value.items()})


@attrs.frozen
class NotifyPolicy:
    """A scope's default notification policy for one way of starting jobs
    (``EsbNotifyPolicyV3DTO``): ``trigger_type`` ``PAGE_EXECUTE``, ``API_INVOKE`` or
    ``TIMER_TASK``; ``channels`` maps each end status (``SUCCESS``, ``FAIL``, ``READY``) to every
    channel the platform offers and whether it notifies."""

    trigger_type: str
    resource_types: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    extra_observers: tuple[str, ...] = ()
    channels: Mapping[str, Mapping[str, bool]] = attrs.field(
        factory=dict, converter=_frozen_channels, hash=False
    )

    def enabled(self, status: str) -> tuple[str, ...]:
        """Return the channels that notify of ``status`` (``"FAIL"``, ...), sorted."""
        return tuple(sorted(k for k, on in self.channels.get(status, {}).items() if on))


@attrs.frozen
class PasswordEncryption:
    """How bk-job wants an account password encrypted before it is sent
    (``EsbAccountPasswordEncryptionMetadataV3DTO``): a base64 public key and the algorithm
    (``RSA``, ``SM2``, ...)."""

    public_key: str
    encrypt_algorithm: str


@attrs.frozen
class AuthorizedScope:
    """A scope the user may use (v4 ``V4AuthorizedScopeDTO``): its name, whether the user marked
    it a favourite (and when, as bk-job's text), and its time zone."""

    scope: Scope
    name: str | None = None
    favor: bool | None = None
    favor_time: str | None = None
    time_zone: str | None = None


@attrs.frozen
class AuthorizedScopePage:
    """A page of ``get_user_authorized_scopes``; ``total`` counts every scope."""

    start: int
    length: int
    total: int | None
    items: tuple[AuthorizedScope, ...]
