"""When the hardened gthread worker lets a request reach a thread: only once it has fully arrived, or never."""
import pytest

from common.gunicorn_worker import EXPIRED, PEEK_MAX, READY, WAIT, request_state

pytestmark = pytest.mark.unit

HEAD = b"POST /order HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


@pytest.mark.parametrize("data, eof, age, state", [
    (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", False, 0, READY),
    (b"GET /health HTTP/1.1\r\nHo", False, 1, WAIT),  # head still arriving
    (b"GET /health HTTP/1.1\r\nHo", False, 11, EXPIRED),  # ... for longer than the limit
    (HEAD + b"Content-Length: 5\r\n\r\n{\"a\"", False, 1, WAIT),  # body still arriving
    (HEAD + b"Content-Length: 5\r\n\r\n{\"a\"", False, 11, EXPIRED),
    (HEAD + b"content-length:5\r\n\r\n{\"a\":", False, 0, READY),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n", False, 0, READY),  # length unknown: read by the thread
    (HEAD + b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n", False, 0, READY),  # waits for our 100
    (b"GET /he", True, 0, READY),  # the client closed: gunicorn answers nothing and closes
    (b"GET /" + b"a" * PEEK_MAX, False, 0, READY),  # a flood: gunicorn's limits refuse it at once
    (HEAD + b"Content-Length: 65537\r\n\r\n{", False, 0, READY),  # over the limit: refused (413) unread
    (HEAD + b"Content-Length: 65536\r\n\r\n{", False, 1, WAIT),  # at the limit: waited for
    (HEAD + b"Content-Length: 1048576\r\n\r\n" + b"x" * 100_000, False, 0, READY),  # cannot all be buffered
])
def test_request_state(data, eof, age, state):
    assert request_state(data, eof, age, 10.0, 65536) == state
