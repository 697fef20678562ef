"""The files family's hooks: credentials, file sources and local-file upload URLs (v3); no I/O.

Credentials (``EsbCredentialV3DTO``), file sources (``EsbFileSourceV3DTO``) and upload URLs
(``EsbUploadUrlV3DTO``). ``register`` adds them to one generation's converter; every reader
here raises only what the converter turns into ``ResponseFormatError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..models.files import (
    CredentialDetail,
    CredentialType,
    FileSourceDetail,
    FileSourceType,
    UploadUrl,
    UploadUrls,
)
from ._readers import Generation, _audit, _number, _str, _text, _times, read_bool, read_int

if TYPE_CHECKING:
    from collections.abc import Mapping

    import cattrs

__all__ = ["register"]


def _named(value: Any, known: type[CredentialType] | type[FileSourceType]) -> Any:
    """Return the enum member spelled ``value``; an unknown name stays the text bk-job sent."""
    text = _text(value)
    if text is None:
        return None
    try:
        return known(text)
    except ValueError:
        return text


def _upload_urls(d: Mapping[str, Any]) -> UploadUrls:
    found = d.get("url_map") or {}
    if not isinstance(found, dict):
        raise ValueError(f"expected a map of URLs, got {type(found).__name__}")
    return UploadUrls(
        UploadUrl(_str(name, None), _str(row["upload_url"], None), _str(row["path"], None))
        for name, row in found.items()
    )


def _v3(c: cattrs.Converter) -> None:
    when = _times(c)

    def credential(d: Mapping[str, Any], _: object) -> CredentialDetail:
        return CredentialDetail(
            _str(d["id"], None),
            _text(d.get("name")),
            _named(d.get("type"), CredentialType),
            _text(d.get("description")),
            *_audit(d, when),
        )

    def file_source(d: Mapping[str, Any], _: object) -> FileSourceDetail:
        enabled = d.get("enable")
        return FileSourceDetail(
            read_int(d["id"]),
            _text(d.get("code")),
            _text(d.get("alias")),
            _number(d.get("status")),
            _named(d.get("file_source_type_code"), FileSourceType),
            None if d.get("is_public") is None else read_bool(d["is_public"]),
            _text(d.get("credential_id")),
            None if enabled is None else read_bool(enabled),
            *_audit(d, when),
        )

    c.register_structure_hook(CredentialDetail, credential)
    c.register_structure_hook(FileSourceDetail, file_source)
    c.register_structure_hook(UploadUrls, lambda d, _: _upload_urls(d))


def register(c: cattrs.Converter, generation: Generation) -> None:
    """Add this module's hooks to ``generation``'s converter ``c`` (v3 only)."""
    if generation is Generation.V3:
        _v3(c)
