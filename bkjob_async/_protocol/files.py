"""Rule: the files family's rows mark secrets and refuse bad names before a request; no I/O.

The files family: file sources, the credentials they use, and local-file upload URLs.

Rows of the endpoint table (``_api.Api``) with their spellings; pure, no I/O. A credential's
secret values (and an account's password, ``accounts``) are marked as secrets of their request,
so that an error echoing them masks them. bk-job refuses ``\\ | / : * < > " ?`` in a file
source's code, alias, type and credential id (``@NotContainSpecialChar``): refused here first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from .._params import check_text, optional_text
from ..errors import ResponseFormatError
from ..models.files import (
    CredentialDetail,
    CredentialSecret,
    FileSourceDetail,
    FileSourceType,
    UploadUrls,
)
from ._api import (
    GET,
    POST,
    AnswerReader,
    Params,
    Parse,
    answering,
    model,
    row,
    v3_scoped,
    with_secrets,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ..config import Scope

__all__ = [
    "CREATE_CREDENTIAL",
    "CREATE_FILE_SOURCE",
    "GENERATE_LOCAL_FILE_UPLOAD_URL",
    "GET_CREDENTIAL_DETAIL",
    "GET_FILE_SOURCE_DETAIL",
    "UPDATE_CREDENTIAL",
    "UPDATE_FILE_SOURCE",
]

T = TypeVar("T")

#: ``IllegalCharChecker.DEFAULT_PATTERN``: what bk-job refuses in a file source's names.
_ILLEGAL = frozenset('\\|/:*<>"?')
#: The longest local file name bk-job takes (``ParamCheckUtil.checkLocalUploadFileName``).
_MAX_FILE_NAME = 1024


def plain(value: object, name: str) -> str:
    """Check a name bk-job validates with ``@NotBlankField`` and ``@NotContainSpecialChar``."""
    text = check_text(value, name)
    if not text.strip():
        raise ValueError(f"{name} must not be blank")
    bad = sorted(_ILLEGAL & set(text))
    if bad:
        raise ValueError(f"{name} must not contain {' '.join(bad)} (bk-job refuses them)")
    return text


def id_of(kind: type[T]) -> AnswerReader[T]:
    """Read an answer that names what it made by ``id`` (``{"id": ...}``)."""

    def read(parse: Parse[Any], data: Any, sent: Mapping[str, Any], /) -> T:
        if not isinstance(data, dict) or data.get("id") is None:
            raise ResponseFormatError(f"the server answered no id: a {type(data).__name__}")
        return parse(data["id"], kind)  # type: ignore[no-any-return]

    return answering(read, kind.__name__)


# --- file sources --------------------------------------------------------------------------------


def file_source(
    scope: Scope,
    *,
    code: str,
    alias: str,
    credential_id: str,
    base_url: str | None = None,
    type: FileSourceType | str = FileSourceType.BLUEKING_ARTIFACTORY,
    access_params: Mapping[str, Any] | None = None,
    file_prefix: str | None = None,
) -> Params:
    """Spell ``create_file_source`` and ``update_file_source`` (bk-job finds the one to update by
    ``code`` and replaces every field).

    ``access_params``, when not empty, must hold an http(s) ``base_url``, whatever the type
    (``@ValidFileSourceInfo``, bk-job 3.10 and later); a ``BLUEKING_ARTIFACTORY`` source
    needs one in any case. bk-job 3.10.x and 3.11.x also refuse a ``base_url`` with a path
    (``http://bkrepo.example.com`` only); 3.12 and later take one (a sub-path deployment);
    3.9 and earlier check the Artifactory URL only.
    """
    kind = type.value if isinstance(type, FileSourceType) else plain(type, "type")
    access = dict(access_params or {})
    if base_url is not None:
        access["base_url"] = check_text(base_url, "base_url")
    url = access.get("base_url")
    if url is None and (access or kind == FileSourceType.BLUEKING_ARTIFACTORY.value):
        raise ValueError(
            f"a {kind} file source needs base_url (the root URL of its storage): bk-job refuses "
            "access_params without an http(s) base_url"
        )
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("http://", "https://"))
    ):
        raise ValueError("base_url must be an http:// or https:// URL")
    if file_prefix is not None and not isinstance(file_prefix, str):
        raise TypeError("file_prefix must be a str ('${UUID}' for a generated one) or None")
    return v3_scoped(
        scope,
        code=plain(code, "code"),
        alias=plain(alias, "alias"),
        type=kind,
        access_params=access,
        credential_id=plain(credential_id, "credential_id"),
        file_prefix=file_prefix,
    )


def file_source_detail(scope: Scope, code: str) -> Params:
    """Spell ``get_file_source_detail``."""
    return v3_scoped(scope, code=plain(code, "code"))


CREATE_FILE_SOURCE = row(
    "create_file_source",
    POST,
    id_of(int),
    v3=file_source,
    doc="""Create a file source (a bk-repo by default, at ``base_url``) and return its id.

    ``code`` names it for good (a transfer's ``FileSource(file_source_code=...)``);
    ``credential_id`` is a ``create_credential`` id; ``file_prefix`` ``"${UUID}"`` makes
    bk-job prefix each file with a generated one.
    """,
    resource="`EsbFileSourceV3Resource`",
)
UPDATE_FILE_SOURCE = row(
    "update_file_source",
    POST,
    id_of(int),
    v3=file_source,
    doc="""Replace the file source ``code`` (every field, as ``create_file_source`` takes them);
    return its id.
    """,
    resource="`EsbFileSourceV3Resource`",
)
GET_FILE_SOURCE_DETAIL = row(
    "get_file_source_detail",
    GET,
    model(FileSourceDetail),
    v3=file_source_detail,
    esb=False,
    doc="""Return the file source ``code`` of a scope (gateway only).""",
    resource="`EsbFileSourceV3Resource`",
)

# --- credentials ---------------------------------------------------------------------------------


def _secret(secret: CredentialSecret) -> Params:
    if not isinstance(secret, CredentialSecret):
        raise TypeError(
            "secret must be a CredentialSecret (CredentialSecret.for_password(...), ...), "
            f"not {type(secret).__name__}"
        )
    return {
        "type": secret.type.value,
        "credential_access_key": secret.access_key,
        "credential_secret_key": secret.secret_key,
        "credential_username": secret.username,
        "credential_password": secret.password,
    }


def create_credential(
    scope: Scope, *, name: str, secret: CredentialSecret, description: str | None = None
) -> Params:
    """Spell ``create_credential``: the secret's values are secrets of the request."""
    name = check_text(name, "name")
    if not name.strip():
        raise ValueError("name must not be blank")
    params = v3_scoped(
        scope, name=name, description=optional_text(description, "description"), **_secret(secret)
    )
    return with_secrets(params, secret.secrets())


def update_credential(
    scope: Scope,
    credential_id: str,
    *,
    name: str,
    secret: CredentialSecret,
    description: str | None = None,
) -> Params:
    """Spell ``update_credential``: bk-job replaces name, type, description and values (a value
    of ``KEEP_SECRET`` keeps the stored one)."""
    params = create_credential(scope, name=name, secret=secret, description=description)
    params["id"] = check_text(credential_id, "credential_id")
    return params


def credential_detail(scope: Scope, credential_id: str) -> Params:
    """Spell ``get_credential_detail``."""
    return v3_scoped(scope, id=check_text(credential_id, "credential_id"))


CREATE_CREDENTIAL = row(
    "create_credential",
    POST,
    id_of(str),
    v3=create_credential,
    doc="""Store a credential (``CredentialSecret.for_username_password(...)``, ...) and return
    its id; the secret is masked in every error and never comes back.
    """,
    resource="`EsbCredentialV3Resource`",
)
UPDATE_CREDENTIAL = row(
    "update_credential",
    POST,
    id_of(str),
    v3=update_credential,
    doc="""Replace a credential's name, secret and description (a secret value of
    ``KEEP_SECRET`` keeps the stored one); return its id.
    """,
    resource="`EsbCredentialV3Resource`",
)
GET_CREDENTIAL_DETAIL = row(
    "get_credential_detail",
    GET,
    model(CredentialDetail),
    v3=credential_detail,
    esb=False,
    doc="""Return a credential's name, type and history, never its secret (gateway only).""",
    resource="`EsbCredentialV3Resource`",
)

# --- local files ---------------------------------------------------------------------------------


def upload_url(scope: Scope, file_names: Sequence[str]) -> Params:
    """Spell ``generate_local_file_upload_url`` (ESB only): one or more file names."""
    if isinstance(file_names, str) or not file_names:
        raise TypeError("file_names must be a non-empty sequence of file names (not one str)")
    names = [check_text(name, "file name") for name in file_names]
    for name in names:
        if not name.strip() or len(name) > _MAX_FILE_NAME:
            raise ValueError(f"a file name is 1..{_MAX_FILE_NAME} characters, not blank")
    return v3_scoped(scope, file_name_list=names)


def upload_urls(parse: Parse[Any], data: Any, sent: Mapping[str, Any], /) -> UploadUrls:
    """Read the URL map, in the order of the names sent."""
    urls = parse(data, UploadUrls)
    order = {name: i for i, name in enumerate(sent.get("file_name_list") or ())}
    return UploadUrls(sorted(urls, key=lambda u: order.get(u.file_name, len(order))))


GENERATE_LOCAL_FILE_UPLOAD_URL = row(
    "generate_local_file_upload_url",
    POST,
    upload_urls,
    v3=upload_url,
    gateway=False,
    idempotent=True,
    doc="""Return where to upload each local file, and the path a transfer then names (ESB only).""",
    resource="`EsbLocalFileV3Resource`",
)
