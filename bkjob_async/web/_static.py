"""Rule: the dashboard's files are read once; a hashed URL's content never changes.

The dashboard's script and stylesheet: named by their content's hash, cached for good, gzipped.

Rule: the files are read and compressed once (they ship in the package). A page links each as
``static/<name>.<hash>.<ext>``: that URL's content never changes, so it is sent with
``Cache-Control: public, max-age=31536000, immutable`` (a new version is a new URL); the plain
name answers too, revalidated each time (``no-cache`` with an ``ETag``). A browser that takes
gzip gets it.
"""

from __future__ import annotations

import gzip
import hashlib
import pathlib
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["ASSETS", "STATIC", "Asset", "assets", "serve_static"]

STATIC = pathlib.Path(__file__).parent / "static"
TYPES = {".js": "text/javascript", ".css": "text/css"}
FOREVER = "public, max-age=31536000, immutable"


class Asset:
    """One file: its bytes, gzipped, and the hashed name a page links."""

    def __init__(self, path: pathlib.Path) -> None:
        self.body = path.read_bytes()
        self.gzipped = gzip.compress(self.body, 9, mtime=0)
        digest = hashlib.sha256(self.body).hexdigest()[:12]
        self.etag = f'"{digest}"'
        self.content_type = TYPES[path.suffix]
        self.name = path.name
        self.hashed = f"{path.stem}.{digest}{path.suffix}"


def assets() -> dict[str, Asset]:
    """Return every asset by its plain name (``dashboard.js``)."""
    found = (Asset(p) for p in sorted(STATIC.iterdir()) if p.suffix in TYPES)
    return {a.name: a for a in found}


def serve_static(files: dict[str, Asset]) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Return the handler of ``GET static/{name}``."""
    by_name = {a.hashed: (a, True) for a in files.values()}
    by_name.update({a.name: (a, False) for a in files.values()})

    async def handler(request: web.Request) -> web.Response:
        found = by_name.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound(text="no such file")
        asset, hashed = found
        headers = {
            "Cache-Control": FOREVER if hashed else "no-cache",
            "ETag": asset.etag,
            "Vary": "Accept-Encoding",
        }
        if request.headers.get("If-None-Match") == asset.etag:
            return web.Response(status=304, headers=headers)
        body = asset.body
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            body = asset.gzipped
            headers["Content-Encoding"] = "gzip"
        return web.Response(
            body=body, content_type=asset.content_type, charset="utf-8", headers=headers
        )

    return handler


#: The package's assets, read once.
ASSETS = assets()
