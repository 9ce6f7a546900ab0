"""Oversized request bodies sent as real clients send them, for the test rings: the whole body after one
Content-Length, by Python `requests` and by a raw socket that also notices a reset. Loopback only.

The contract: a body over MAX_BODY_BYTES gets a 4xx JSON error (413), and the client can read it; a server
that closes with the body unread resets the connection, and the client may never see the answer.
"""
from __future__ import annotations

import json
import socket

import requests

SIZE = 1024 * 1024  # 1 MiB: far over the 64 KiB limit, and over what a socket buffers unread


def _json_error(body: bytes) -> str | None:
    """Why `body` is not the contract's error shape, or None when it is."""
    try:
        doc = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:80]!r}"
    if not (isinstance(doc, dict) and isinstance(doc.get("error"), str) and isinstance(doc.get("detail"), str)):
        return f"not {{error, detail}}: {doc!r:.80}"
    return None


def with_requests(port: int, path: str, size: int = SIZE) -> list[str]:
    """POST `size` bytes with `requests`; what is wrong with the answer (empty: a 413 JSON error)."""
    try:
        r = requests.post(f"http://127.0.0.1:{port}{path}", data=b"x" * size,
                          headers={"Content-Type": "application/json"}, timeout=30)
    except requests.RequestException as err:
        return [f"requests: no answer: {err!r:.160}"]
    problems = [] if r.status_code == 413 else [f"requests: status {r.status_code}, not 413"]
    why = _json_error(r.content)
    return problems + ([f"requests: body {why}"] if why else [])


def with_raw_socket(port: int, path: str, size: int = SIZE) -> list[str]:
    """The head, then the whole body with sendall, then read to the end: the send must not fail, the answer
    must be a 413 JSON error, and the server must end the connection with a close, not a reset."""
    problems = []
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            s.sendall(head + b"x" * size)
        except OSError as err:
            problems.append(f"raw: sending the body failed: {err!r}")
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except OSError as err:
            problems.append(f"raw: reading the answer failed: {err!r}")
    status_line, _, rest = answer.partition(b"\r\n")
    if status_line[9:12] != b"413":
        problems.append(f"raw: status line {status_line[:60]!r}, not 413")
    headers, _, body = rest.partition(b"\r\n\r\n")
    if b"application/json" not in headers.lower():
        problems.append("raw: no JSON content type")
    why = _json_error(body)
    return problems + ([f"raw: body {why}"] if why else [])


def problems(port: int, path: str, size: int = SIZE) -> list[str]:
    """Both clients against one endpoint; an empty list when both read a 413 JSON error."""
    return with_requests(port, path, size) + with_raw_socket(port, path, size)
