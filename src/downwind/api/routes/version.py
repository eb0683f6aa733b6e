"""``GET /api/v2/version``: open to everyone, as in Airflow (whose client sends no token
for it, and whose docker-compose files use it as a health check)."""

from __future__ import annotations

from fastapi import APIRouter

from downwind import __version__
from downwind.api.deps import public
from downwind.api.schemas.version import VersionInfo

__all__ = ["router"]

router = APIRouter(tags=["Version"])


@router.get("/version", dependencies=[public()])
def get_version() -> VersionInfo:
    """downwind's version."""
    return VersionInfo(version=__version__)
