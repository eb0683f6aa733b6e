"""Import errors of DAG files: ``ImportErrorResponse`` and its collection."""

from __future__ import annotations

from datetime import datetime

from downwind.api.schemas.common import ResponseModel
from downwind.metastore.models import ParseImportError

__all__ = ["ImportErrorCollectionResponse", "ImportErrorResponse", "import_error_response"]


class ImportErrorResponse(ResponseModel):
    import_error_id: int
    timestamp: datetime
    filename: str
    bundle_name: str | None = None
    stack_trace: str


class ImportErrorCollectionResponse(ResponseModel):
    import_errors: list[ImportErrorResponse]
    total_entries: int


def import_error_response(error: ParseImportError) -> ImportErrorResponse:
    return ImportErrorResponse(
        import_error_id=error.id,
        timestamp=error.timestamp,
        filename=error.filename,
        bundle_name="dags-folder",
        stack_trace=error.stacktrace or "",
    )
