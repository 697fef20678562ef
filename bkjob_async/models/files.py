"""Frozen shapes for file sources, credentials and local-file upload URLs; no wire knowledge here.

A file source (``FileSourceDetail``) is a repository bk-job pulls files from, such as a BlueKing
Artifactory (bk-repo) instance, reached with a stored credential (``CredentialDetail``). A
credential's secret goes in as a ``CredentialSecret`` and never comes back: bk-job answers a
credential's name and type only. Secrets (passwords, secret keys, access keys, an upload URL's
token) never show in a ``repr``. Times are timezone-aware ``datetime``.
"""

from __future__ import annotations

import datetime as _dt
import enum
from typing import ClassVar

import attrs

__all__ = [
    "KEEP_SECRET",
    "CredentialDetail",
    "CredentialSecret",
    "CredentialType",
    "FileSourceDetail",
    "FileSourceType",
    "UploadUrl",
    "UploadUrls",
]

#: bk-job's ``SENSITIVE_FIELD_PLACEHOLDER``: a secret given as this keeps the stored value
#: (``update_credential``).
KEEP_SECRET = "******"


def _masked(value: str | None) -> str:
    return "None" if value is None else "'***'"


class FileSourceType(str, enum.Enum):
    """A file source's type (``FileSourceTypeEnum``); the ESB API creates Artifactory ones."""

    BLUEKING_ARTIFACTORY = "BLUEKING_ARTIFACTORY"
    TENCENT_CLOUD_COS = "TENCENT_CLOUD_COS"


class CredentialType(str, enum.Enum):
    """A credential's type (``CredentialTypeEnum``: bk-job refuses any other name, including the
    ``ACCESS_KEY_SECRET_KEY`` its ESB docs print for ``APP_ID_SECRET_KEY``)."""

    APP_ID_SECRET_KEY = "APP_ID_SECRET_KEY"
    PASSWORD = "PASSWORD"
    USERNAME_PASSWORD = "USERNAME_PASSWORD"
    SECRET_KEY = "SECRET_KEY"


def _optional_str(name: str) -> object:
    def check(_: object, __: object, value: object) -> None:
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a str or None, not {type(value).__name__}")

    return check


@attrs.frozen
class CredentialSecret:
    """What a credential holds, by type; build one with its class methods.

    ``CredentialSecret.for_username_password("admin", "pw")``, ``.for_password("pw")``,
    ``.for_secret_key("sk")``, ``.for_app_id_secret_key("ak", "sk")``. Every field but ``username`` is
    masked in ``repr``. ``KEEP_SECRET`` as a value keeps what bk-job stores (on update).
    """

    type: CredentialType
    access_key: str | None = attrs.field(default=None, repr=_masked)
    secret_key: str | None = attrs.field(default=None, repr=_masked)
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=_masked)

    #: The fields each type needs (``EsbCredentialResourceV3Impl.convertToCreateUpdateReq``).
    NEEDS: ClassVar[dict[CredentialType, tuple[str, ...]]] = {
        CredentialType.APP_ID_SECRET_KEY: ("access_key", "secret_key"),
        CredentialType.PASSWORD: ("password",),
        CredentialType.USERNAME_PASSWORD: ("username", "password"),
        CredentialType.SECRET_KEY: ("secret_key",),
    }

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.type, CredentialType):
            raise TypeError(f"type must be a CredentialType, not {type(self.type).__name__}")
        needed = self.NEEDS[self.type]
        for name in ("access_key", "secret_key", "username", "password"):
            value = getattr(self, name)
            if name in needed:
                if not isinstance(value, str) or not value:
                    raise TypeError(f"a {self.type.value} credential needs {name}: a non-empty str")
            elif value is not None:
                raise ValueError(f"a {self.type.value} credential takes no {name}")

    @classmethod
    def for_password(cls, password: str) -> CredentialSecret:
        """Return a single-password secret."""
        return cls(CredentialType.PASSWORD, password=password)

    @classmethod
    def for_username_password(cls, username: str, password: str) -> CredentialSecret:
        """Return a user name and its password."""
        return cls(CredentialType.USERNAME_PASSWORD, username=username, password=password)

    @classmethod
    def for_secret_key(cls, secret_key: str) -> CredentialSecret:
        """Return a single secret key."""
        return cls(CredentialType.SECRET_KEY, secret_key=secret_key)

    @classmethod
    def for_app_id_secret_key(cls, access_key: str, secret_key: str) -> CredentialSecret:
        """Return an access key (app id) and its secret key."""
        return cls(CredentialType.APP_ID_SECRET_KEY, access_key=access_key, secret_key=secret_key)

    def secrets(self) -> tuple[str, ...]:
        """Return the values to mask wherever this secret could be echoed."""
        values = (self.access_key, self.secret_key, self.password)
        return tuple(v for v in values if v and v != KEEP_SECRET)


@attrs.frozen
class CredentialDetail:
    """A stored credential (``EsbCredentialV3DTO``): bk-job never returns its secret.

    ``type`` is a ``CredentialType``, or bk-job's text for a type this library does not know.
    """

    id: str
    name: str | None = None
    type: CredentialType | str | None = None
    description: str | None = None
    creator: str | None = None
    create_time: _dt.datetime | None = None
    last_modify_user: str | None = None
    last_modify_time: _dt.datetime | None = None


@attrs.frozen
class FileSourceDetail:
    """A file source of a scope (``EsbFileSourceV3DTO``); ``code`` is what a file transfer's
    source names (``FileSource(file_source_code=...)``)."""

    id: int
    code: str | None = None
    alias: str | None = None
    status: int | None = None
    #: ``FileSourceType``, or bk-job's text for a type this library does not know.
    type: FileSourceType | str | None = None
    is_public: bool | None = None
    credential_id: str | None = None
    enabled: bool | None = None
    creator: str | None = None
    create_time: _dt.datetime | None = None
    last_modify_user: str | None = None
    last_modify_time: _dt.datetime | None = None


@attrs.frozen
class UploadUrl:
    """Where to upload one local file (``generate_local_file_upload_url``), and the ``path`` a
    file transfer then names (a local file source, ``file_type`` 2). The URL carries its token,
    so it is masked in ``repr``."""

    file_name: str
    upload_url: str = attrs.field(repr=_masked)
    path: str


class UploadUrls(tuple[UploadUrl, ...]):
    """``generate_local_file_upload_url``'s answer: one ``UploadUrl`` per file name given."""

    __slots__ = ()
