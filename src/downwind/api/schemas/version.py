"""``GET /api/v2/version``."""

from __future__ import annotations

from downwind.api.schemas.common import ResponseModel

__all__ = ["VersionInfo"]


class VersionInfo(ResponseModel):
    """The server's version (downwind's own)."""

    version: str
    git_version: str | None = None
