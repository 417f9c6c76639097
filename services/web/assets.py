"""The web app's files, read once at start: each with an ETag and, where it pays, a gzip copy made then.

Browsers revalidate (`no-cache` + ETag → 304), so a new release is picked up on the next load without file
names that change; there is no build step and nothing is fetched from anywhere else.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
}
COMPRESSIBLE = {".html", ".js", ".css", ".json", ".svg", ".webmanifest"}


@dataclass(frozen=True)
class Asset:
    content_type: str
    body: bytes
    gzipped: bytes | None
    etag: str


def load_assets(directory: Path) -> dict[str, Asset]:
    """Every file under `directory` by its path relative to it (`js/workspace.js`)."""
    assets: dict[str, Asset] = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        suffix = path.suffix.lower()
        if suffix not in TYPES:
            continue
        body = path.read_bytes()
        packed = gzip.compress(body, compresslevel=9, mtime=0) if suffix in COMPRESSIBLE else None
        assets[path.relative_to(directory).as_posix()] = Asset(
            content_type=TYPES[suffix],
            body=body,
            gzipped=packed if packed is not None and len(packed) < len(body) else None,
            etag='"' + hashlib.sha256(body).hexdigest()[:20] + '"',
        )
    return assets


def asset_response(asset: Asset, request: Request) -> Response:
    headers = {"ETag": asset.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    accepts_gzip = "gzip" in request.headers.get("accept-encoding", "").lower()
    if asset.gzipped is not None and accepts_gzip:
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.content_type, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)
