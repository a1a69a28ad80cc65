"""HTTP clients for load generation, one connection per concurrent sender.

The load generator shares the machine's cores with the server it measures, so its own cost per
request matters: `RawConnection` is a minimal HTTP/1.1 keep-alive client on asyncio streams
(a few tens of microseconds a request), `HttpxConnection` goes through httpx (about a
millisecond a request). Both only speak to the loopback server the benchmark started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

import httpx


class TransportError(Exception):
    """The connection failed or closed before a whole answer arrived."""


@dataclass
class Reply:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class Connection(Protocol):
    async def post(self, path: str, body: bytes) -> Reply: ...

    async def close(self) -> None: ...


class RawConnection:
    def __init__(
        self,
        host: str,
        port: int,
        headers: dict[str, str],
        timeout: float,
        *,
        keep_alive: bool = True,
        requests_per_connection: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.keep_alive = keep_alive
        # Close a kept-alive connection after this many requests (the next one reconnects), as
        # HTTP clients and load balancers recycle theirs.
        self.requests_per_connection = requests_per_connection
        self.served = 0
        self.head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.head += f"Host: {host}:{port}\r\nContent-Type: application/json\r\n"
        if not keep_alive:
            self.head += "Connection: close\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> Reply:
        reused = self.writer is not None
        try:
            return await asyncio.wait_for(self._post(path, body), self.timeout)
        except asyncio.IncompleteReadError as exc:
            await self.close()
            if reused and not exc.partial:
                # The server had closed the kept-alive connection (uvicorn does after a request
                # that raised): nothing was read, so send again on a new connection, as HTTP
                # clients do with a stale pooled connection.
                return await self.post(path, body)
            raise TransportError(repr(exc)) from exc
        except (OSError, asyncio.LimitOverrunError) as exc:
            await self.close()
            raise TransportError(repr(exc)) from exc
        except TimeoutError as exc:
            await self.close()
            raise TransportError(f"no answer within {self.timeout} s") from exc

    async def _post(self, path: str, body: bytes) -> Reply:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.served = 0
        request = f"POST {path} HTTP/1.1\r\n{self.head}Content-Length: {len(body)}\r\n\r\n"
        self.writer.write(request.encode() + body)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, _, header_block = head.decode("latin-1").partition("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in header_block.split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            content = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            content = await self._chunked()
        else:
            content = await self.reader.read()
            await self.close()
        self.served += 1
        recycle = self.requests_per_connection is not None
        if (
            not self.keep_alive
            or headers.get("connection", "").lower() == "close"
            or (recycle and self.served >= (self.requests_per_connection or 0))
        ):
            await self.close()
        return Reply(status, content)

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class HttpxConnection:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def post(self, path: str, body: bytes) -> Reply:
        try:
            response = await self.client.post(path, content=body)
        except httpx.TransportError as exc:
            raise TransportError(repr(exc)) from exc
        return Reply(response.status_code, response.content)

    async def close(self) -> None:
        pass


def httpx_client(base_url: str, headers: dict[str, str], concurrency: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        headers={**headers, "Content-Type": "application/json"},
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        timeout=httpx.Timeout(180),
        trust_env=False,
    )
