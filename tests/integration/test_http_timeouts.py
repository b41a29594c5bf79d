"""The services' HTTP server drops idle and slow connections and caps the open ones
(services/kernel/infra/http.py: HTTP_SOCKET_TIMEOUT_SECONDS, HTTP_KEEPALIVE_SECONDS,
HTTP_MAX_CONNECTIONS), and a normal keep-alive connection still works.

Plain sockets, a 1 s timeout, and only generous bounds: "closed within 10 s".
"""

import socket
import time

import pytest

from services.catalog.service import CatalogService

BOUND = 10  # seconds: far above the 1 s configured, far below "never"
HEALTH = b"GET /health HTTP/1.1\r\nHost: antre\r\n\r\n"


@pytest.fixture
def port(start_service):
    _, http = start_service(CatalogService, HTTP_SOCKET_TIMEOUT_SECONDS=1,
                            HTTP_KEEPALIVE_SECONDS=1)
    return int(http.base.rsplit(":", 1)[1])


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=BOUND)
    return sock


def read_answer(sock):
    """One HTTP answer (status line, headers, Content-Length body) from ``sock``;
    b"" when the server closed the connection before answering."""
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            return data
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        part = sock.recv(65536)
        if not part:
            break
        body += part
    return head + b"\r\n\r\n" + body


def closed_within(sock, seconds, drip=None):
    """Whether the server closes ``sock`` within ``seconds``: everything it sends before
    is returned too. With ``drip`` (bytes), one byte of it is sent every 0.3 s
    meanwhile, so that no single read of the server ever waits a whole second."""
    deadline = time.monotonic() + seconds
    received = b""
    drip = bytearray(drip or b"")
    while time.monotonic() < deadline:
        sock.settimeout(0.3)
        try:
            part = sock.recv(65536)
        except TimeoutError:
            if drip:
                try:
                    sock.send(bytes(drip[:1]))
                except OSError:
                    return True, received
                del drip[:1]
            continue
        except ConnectionResetError:
            return True, received
        if not part:
            return True, received
        received += part
    return False, received


def test_a_half_sent_request_line_is_closed(port):
    with connect(port) as sock:
        sock.sendall(b"GET /api/catalog/si")
        closed, received = closed_within(sock, BOUND)
    assert closed, "a half request line still open after 10 s"
    assert received == b""


def test_an_idle_connection_is_closed(port):
    with connect(port) as sock:
        closed, _ = closed_within(sock, BOUND)
    assert closed, "an idle connection still open after 10 s"


def test_a_request_line_sent_a_byte_at_a_time_is_closed(port):
    with connect(port) as sock:
        closed, _ = closed_within(sock, BOUND, drip=b"GET /health" + b"x" * 100)
    assert closed, "a dripped request line still open after 10 s"


def test_headers_sent_a_byte_at_a_time_are_closed(port):
    with connect(port) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: antre\r\n")
        closed, received = closed_within(sock, BOUND, drip=b"X-Slow: " + b"x" * 100)
    assert closed, "dripped headers still open after 10 s"
    assert received == b""


def test_a_stalled_body_is_a_408_and_closed(port):
    with connect(port) as sock:
        sock.sendall(b"POST /api/catalog/auth/login HTTP/1.1\r\nHost: antre\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                     b'{"username":')
        closed, received = closed_within(sock, BOUND)
    assert closed, "a stalled body still open after 10 s"
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert b'"request_timeout"' in received


def test_a_body_sent_a_byte_at_a_time_is_a_408_and_closed(port):
    with connect(port) as sock:
        sock.sendall(b"POST /api/catalog/auth/login HTTP/1.1\r\nHost: antre\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n")
        closed, received = closed_within(sock, BOUND, drip=b'{"username": "' + b"a" * 150)
    assert closed, "a dripped body still open after 10 s"
    assert received.startswith(b"HTTP/1.1 408 "), received


def test_keep_alive_still_serves_request_after_request(port):
    with connect(port) as sock:
        for _ in range(3):
            sock.sendall(HEALTH)
            answer = read_answer(sock)
            assert answer.startswith(b"HTTP/1.1 200 "), answer
            assert b"connection: close" not in answer.lower()
        closed, _ = closed_within(sock, BOUND)  # then idle: closed after HTTP_KEEPALIVE_SECONDS
    assert closed


def test_connections_over_the_cap_are_answered_503_and_closed(start_service):
    _, http = start_service(CatalogService, HTTP_MAX_CONNECTIONS=3)
    port = int(http.base.rsplit(":", 1)[1])
    held = [connect(port) for _ in range(3)]
    try:
        for sock in held:  # each answered once, and kept open
            sock.sendall(HEALTH)
            assert read_answer(sock).startswith(b"HTTP/1.1 200 ")
        with connect(port) as extra:
            answer = read_answer(extra)
            assert answer.startswith(b"HTTP/1.1 503 "), answer
            assert b'"service_unavailable"' in answer
            assert extra.recv(1) == b""
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + BOUND  # the slots free up once they are closed
    while True:
        with connect(port) as sock:
            sock.sendall(HEALTH)
            answer = read_answer(sock)
        if answer.startswith(b"HTTP/1.1 200 ") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert answer.startswith(b"HTTP/1.1 200 "), answer
