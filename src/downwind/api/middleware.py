"""ASGI middleware of the API: security headers, a request body limit, and a last-resort
handler that turns an unexpected exception into a plain 500 (logging the traceback)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["API_CSP", "BodySizeLimit", "InternalErrors", "SecurityHeaders"]

log = logging.getLogger("downwind.api")

#: the API answers JSON only: it may load nothing and be framed by no one
API_CSP = "default-src 'none'; frame-ancestors 'none'"
#: the interactive docs (Swagger UI) load their script and style from a CDN
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect")


def _csp_for(path: str) -> str:
    return DOCS_CSP if path in DOCS_PATHS else API_CSP


async def _send_json(send: Send, status: int, body: dict[str, object]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class SecurityHeaders:
    """Adds ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
    ``Referrer-Policy: same-origin`` and a Content-Security-Policy (chosen by
    ``csp_for(path)``) to every response that does not set them itself."""

    def __init__(self, app: ASGIApp, csp_for: Callable[[str], str] = _csp_for) -> None:
        self.app = app
        self.csp_for = csp_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"content-security-policy", self.csp_for(scope["path"]).encode()),
        ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(item for item in extra if item[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimit:
    """Refuses a request body larger than ``max_bytes`` with 413: at once when its
    ``Content-Length`` says so, else as soon as more than that has arrived."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> str:
        return f"Request body too large: the limit is {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                if not value.isdigit():
                    await _send_json(send, 400, {"detail": "Invalid Content-Length header"})
                    return
                if int(value) > self.max_bytes:
                    await _send_json(send, 413, {"detail": self._too_large()})
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._too_large())
            return message

        await self.app(scope, limited_receive, send)


class InternalErrors:
    """The last resort: an exception no handler took becomes ``500 {"detail": "Internal
    Server Error"}``; its traceback is logged, never sent to the client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if started:  # too late for a clean answer: let the server close the connection
                raise
            await _send_json(send, 500, {"detail": "Internal Server Error"})
