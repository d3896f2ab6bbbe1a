"""Reading request bodies with a size limit, before any of it is buffered past the limit.

Starlette's ``request.body()`` reads whatever the client sends; the public routes
(webhooks, Segment, unsubscribe forms) and the events route read through here instead.
"""

from __future__ import annotations

from fastapi import Request


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit // 1024} KB")
        self.limit = limit


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body; BodyTooLarge as soon as it is known to be over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)
