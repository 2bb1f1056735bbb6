"""A raw HTTP/1.1 request over a socket, for headers other clients will not send (a forged `Host`)."""

from __future__ import annotations

import socket

import anyio


def _exchange(where: str, request: bytes, timeout: float) -> tuple[int, str]:
    host, port = where.rsplit(":", 1)
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                None,
            )
            if length is not None and len(body) >= length:
                break
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, body.decode(errors="replace")


async def raw_request(
    where: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes = b"",
    *,
    wait_s: float = 20,
) -> tuple[int, str]:
    """Send exactly these headers (no Host unless given) and return the status and the body text."""
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    return await anyio.to_thread.run_sync(_exchange, where, request, wait_s)


def upgrade_headers(host: str, **extra: str) -> dict[str, str]:
    """The headers of a WebSocket handshake (RFC 6455's sample key), with `host` and more."""
    return {
        "Host": host,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        **extra,
    }
