"""HTTP/1.1 exchanges for the kit's `httpx.Client`, on kept-alive sockets.

Why: a plan reads every listing and settings document it needs, hundreds to thousands of
exchanges, and httpx's default transport (httpcore over h11, both pure Python) costs about
0.6 ms of client CPU per exchange; the standard library's `http.client` about 0.35 ms, most of it
parsing headers through the `email` package. An HTTP/1.1 client exchange is small: one write of
the request head (and body), a status line and headers read by the C line reader, and a body
framed by `Content-Length`, chunks or the end of the connection (RFC 9112, section 6). Doing
that here is what lets a 10,000-object plan on DSS (1,383 documents) stay within its CPU
budget. httpx stays the client the kit and the platforms program against (requests, auth
flows, hooks, responses); only the wire under it changes.

What the retry rules need is kept exactly (`_retry`): the exception raised says whether the
request could have reached the server. Failing to connect (refused, DNS, TLS, connect timeout)
or to get a connection slot raises `ConnectError`, `ConnectTimeout` or `PoolTimeout`, with the
OS or TLS error as the cause; anything after the first byte of the request was written raises
`WriteError`/`WriteTimeout`, `ReadError`/`ReadTimeout` or `RemoteProtocolError` (maybe sent).
A kept-alive connection the server has closed is found before it is used (its socket is
readable: an end of file, or bytes nobody asked for) and is dropped, as httpcore does.

Proxies are httpcore's job: `wire_transport` answers None when the environment names a proxy
for the URL, and the client then keeps httpx's default transport, which honours it.
"""

from __future__ import annotations

import os
import re
import select
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping

import httpx

_DEFAULT_PORTS = {"http": 80, "https": 443}
_CHUNK = 65536
#: A body up to this size with a known length is read with its head and the connection given
#: back at once: the response then holds its content, which saves httpx's stream machinery
#: (about a fifth of a settings document's client CPU). Larger or open-ended bodies stream.
_EAGER_MAX = 64 * 1024
#: Limits on what a response head may be (as http.client and h11 limit it).
_MAX_LINE = 65536
_MAX_HEAD = 256 * 1024
_MAX_HEADERS = 100
#: The lengths of `content-length`, `transfer-encoding` and `connection`: a header whose name has
#: none of them cannot frame a body.
_FRAMING_LENGTHS = frozenset({14, 17, 10})

Origin = tuple[str, str, int]


def origin_of(url: httpx.URL) -> Origin:
    """Where a URL's requests go: its scheme, host and port (the scheme's default if none)."""
    return url.scheme, url.host, url.port or _DEFAULT_PORTS[url.scheme]


def wire_transport(base_url: str, *, verify: bool | str | ssl.SSLContext = True, limits: httpx.Limits | None = None) -> WireTransport | None:
    """The transport for a client of `base_url`, or None where httpx's own must serve (a proxy
    from the environment applies to it, or the scheme is not plain HTTP(S))."""
    url = httpx.URL(base_url)
    if url.scheme not in _DEFAULT_PORTS:
        return None
    proxies = urllib.request.getproxies_environment()
    if proxies and (url.scheme in proxies or "all" in proxies) \
            and not urllib.request.proxy_bypass_environment(url.host, proxies):  # type: ignore[attr-defined]
        return None
    return WireTransport(verify=verify, limits=limits or httpx.Limits())


class _raised_as:
    """OS errors of one phase of an exchange as the httpx errors `_retry` classifies: which
    classes say whether the request could have reached the server. A class rather than a
    generator-based context manager: it wraps three phases of every exchange."""

    __slots__ = ("request", "timed_out", "failed", "doing")

    def __init__(self, request: httpx.Request | None, timed_out: type[httpx.TransportError],
                 failed: type[httpx.TransportError], doing: str) -> None:
        self.request, self.timed_out, self.failed, self.doing = request, timed_out, failed, doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        if isinstance(exc, TimeoutError):
            raise self.timed_out(str(exc) or f"timed out while {self.doing}", request=self.request) from exc
        if isinstance(exc, OSError):  # refused, reset, DNS (gaierror), TLS (ssl.SSLError), ...
            raise self.failed(str(exc) or type(exc).__name__, request=self.request) from exc


class WireTransport(httpx.BaseTransport):
    """A pool of kept-alive connections per origin, shared by the client's threads: at most
    `max_connections` exchanges at once (a caller waits up to the pool timeout, then
    `PoolTimeout`), at most `max_keepalive_connections` idle connections kept, each for
    `keepalive_expiry` seconds."""

    def __init__(self, *, verify: bool | str | ssl.SSLContext = True, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits()
        self._verify = verify
        self._ssl_context: ssl.SSLContext | None = None
        self._max_idle = limits.max_keepalive_connections if limits.max_keepalive_connections is not None else 1 << 30
        self._expiry = limits.keepalive_expiry
        self._slots = threading.BoundedSemaphore(limits.max_connections) if limits.max_connections else None
        self._idle: dict[Origin, list[tuple[_Connection, float]]] = {}
        self._lock = threading.Lock()
        self._closed = False

    # httpx.BaseTransport ------------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"request URL has an unsupported protocol {url.scheme!r}", request=request)
        origin = origin_of(url)
        timeouts: Mapping[str, float | None] = request.extensions.get("timeout", {})
        return self._exchange(origin, request.method, timeouts, request,
                              lambda conn: conn.send_request(request, timeouts.get("write")), httpx.Response)

    def send_bytes(self, origin: Origin, method: str, data: bytes, timeouts: Mapping[str, float | None],
                   response_type: type[httpx.Response] = httpx.Response) -> httpx.Response:
        """One exchange whose request (head and body) is already written out as `data`: the kit's
        transport sends its plain JSON requests this way, without building an `httpx.Request`.
        The response and the exceptions are those of `handle_request`, with no request attached."""
        return self._exchange(origin, method, timeouts, None,
                              lambda conn: conn.send_bytes(data, timeouts.get("write"), None), response_type)

    def _exchange(self, origin: Origin, method: str, timeouts: Mapping[str, float | None],
                  request: httpx.Request | None, send: Callable[[_Connection], None],
                  response_type: type[httpx.Response]) -> httpx.Response:
        self._take_slot(request, timeouts.get("pool"))
        body: bytes | None = None
        try:
            conn = self._connection(request, origin, timeouts.get("connect"))
            try:
                send(conn)
                head = conn.receive(method, request, timeouts.get("read"))
                if head.length is not None and head.length <= _EAGER_MAX:
                    body = conn.read_exactly(head.length, request)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            self._give_slot()
            raise
        extensions = {"http_version": head.version, "reason_phrase": head.reason}
        if body is not None:
            self._release(origin, conn, head.keep_alive)
            return response_type(head.status, headers=head.headers, content=body, extensions=extensions)
        return response_type(head.status, headers=head.headers, stream=_Body(self, origin, conn, head, request),
                             extensions=extensions)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn, _ in conns:
                conn.close()

    # Connections ----------------------------------------------------------------------------------

    def _take_slot(self, request: httpx.Request | None, timeout: float | None) -> None:
        if self._slots is not None and not self._slots.acquire(timeout=timeout if timeout is not None else -1):
            raise httpx.PoolTimeout("no connection became free within the pool timeout", request=request)

    def _give_slot(self) -> None:
        if self._slots is not None:
            self._slots.release()

    def _connection(self, request: httpx.Request | None, origin: Origin, timeout: float | None) -> _Connection:
        """A kept-alive connection that is still usable, else a new one."""
        now = time.monotonic()
        while True:
            with self._lock:
                pooled = self._idle.get(origin)
                conn, since = pooled.pop() if pooled else (None, 0.0)
            if conn is None:
                break
            if (self._expiry is not None and now - since > self._expiry) or conn.dropped():
                conn.close()
                continue
            return conn
        scheme, host, port = origin
        with _raised_as(request, httpx.ConnectTimeout, httpx.ConnectError, "connecting"):
            sock = socket.create_connection((host, port), timeout=timeout)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if scheme == "https":
                    sock = self._tls().wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
        return _Connection(sock)

    def _tls(self) -> ssl.SSLContext:
        with self._lock:
            if self._ssl_context is None:
                verify = self._verify
                if isinstance(verify, ssl.SSLContext):
                    self._ssl_context = verify
                elif isinstance(verify, str):  # a CA bundle, or a directory of CA certificates
                    self._ssl_context = ssl.create_default_context(capath=verify) if os.path.isdir(verify) \
                        else ssl.create_default_context(cafile=verify)
                else:  # httpx's own defaults: certifi's CAs, SSL_CERT_FILE / SSL_CERT_DIR
                    self._ssl_context = httpx.create_ssl_context(verify=verify, trust_env=True)
            return self._ssl_context

    def _release(self, origin: Origin, conn: _Connection, reusable: bool) -> None:
        try:
            if reusable:
                with self._lock:
                    pooled = self._idle.setdefault(origin, [])
                    if not self._closed and len(pooled) < self._max_idle:
                        pooled.append((conn, time.monotonic()))
                        return
            conn.close()
        finally:
            self._give_slot()


class _Head:
    """A response's status line and headers, and how its body is framed."""

    __slots__ = ("status", "version", "reason", "headers", "length", "chunked", "keep_alive")

    def __init__(self, status: int, version: bytes, reason: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        self.version = version
        self.reason = reason
        self.headers = headers
        self.length: int | None = None  # None with chunked, or to the end of the connection
        self.chunked = False
        self.keep_alive = True


class _Connection:
    """One HTTP/1.1 connection: a socket and a buffered reader over it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb")
        self._timeout: float | None = sock.gettimeout()
        self._poller: select.poll | None = None
        if hasattr(select, "poll"):
            self._poller = select.poll()
            self._poller.register(sock, select.POLLIN)

    def settimeout(self, timeout: float | None) -> None:
        """The socket's timeout, set only when it changes: each setting is a system call or two."""
        if timeout != self._timeout:
            self.sock.settimeout(timeout)
            self._timeout = timeout

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.sock.close()

    def dropped(self) -> bool:
        """Whether an idle connection can no longer carry a request: the server closed it, or
        sent bytes no request asked for (the socket is readable)."""
        try:
            if self._poller is not None:
                return bool(self._poller.poll(0))
            return bool(select.select([self.sock], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    # One exchange -----------------------------------------------------------------------------------

    def receive(self, method: str, request: httpx.Request | None, timeout: float | None) -> _Head:
        """The response's head, after any interim answers, and how its body is framed."""
        self.settimeout(timeout)
        with _raised_as(request, httpx.ReadTimeout, httpx.ReadError, "reading"):
            head = self._read_head(request)
            while 100 <= head.status < 200 and head.status != 101:  # interim answers (100 Continue)
                head = self._read_head(request)
        _frame(head, method, request)
        return head

    def send_bytes(self, data: bytes, timeout: float | None, request: httpx.Request | None) -> None:
        self.settimeout(timeout)
        with _raised_as(request, httpx.WriteTimeout, httpx.WriteError, "sending"):
            self.sock.sendall(data)

    def send_request(self, request: httpx.Request, timeout: float | None) -> None:
        target = request.url.raw_path
        lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), target)]
        lines += [b"%s: %s" % (name, value) for name, value in request.headers.raw]
        head = b"\r\n".join(lines) + b"\r\n\r\n"
        if isinstance(request.stream, httpx.ByteStream):
            self.send_bytes(head + b"".join(request.stream), timeout, request)
            return
        chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
        self.settimeout(timeout)
        with _raised_as(request, httpx.WriteTimeout, httpx.WriteError, "sending"):
            self.sock.sendall(head)  # a streamed upload: sent as it is read, never held whole
            for chunk in request.stream:  # type: ignore[union-attr]
                if chunked:
                    if chunk:
                        self.sock.sendall(b"%X\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    self.sock.sendall(chunk)
            if chunked:
                self.sock.sendall(b"0\r\n\r\n")

    def read_exactly(self, length: int, request: httpx.Request | None) -> bytes:
        """A body of `length` bytes, whole (the socket's read timeout applies to each read)."""
        with _raised_as(request, httpx.ReadTimeout, httpx.ReadError, "reading"):
            body = self.reader.read(length) if length else b""
        if len(body) < length:
            raise httpx.RemoteProtocolError(f"incomplete response body ({length - len(body)} bytes missing)",
                                            request=request)
        return body

    def _read_head(self, request: httpx.Request | None) -> _Head:
        readline = self.reader.readline
        line = readline(_MAX_LINE + 1)
        if not line:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        parts = line.rstrip(b"\r\n").split(b" ", 2)
        if len(line) > _MAX_LINE or len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit() \
                or len(parts[1]) != 3:
            raise httpx.RemoteProtocolError("malformed status line", request=request)
        lines: list[bytes] = []
        size = 0
        while True:
            line = readline(_MAX_LINE + 1)
            if line == b"\r\n" or line == b"\n":
                break
            if not line:
                raise httpx.RemoteProtocolError("Server disconnected in the middle of the headers.", request=request)
            size += len(line)
            if size > _MAX_HEAD:
                raise httpx.RemoteProtocolError("response headers too large", request=request)
            lines.append(line)
        return _Head(int(parts[1]), parts[0], parts[2] if len(parts) > 2 else b"", _parse_headers(lines, request))


#: One header line as httpx and RFC 9110 name a field: a token, a colon, the value to the line's end.
_HEADER_LINE = re.compile(rb"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):([^\r\n]*)\r?\n", re.MULTILINE)


def _parse_headers(lines: list[bytes], request: httpx.Request | None) -> list[tuple[bytes, bytes]]:
    """A response's header lines as (name, value) pairs. When every line is a plain `name:
    value`, one expression reads them all (a tenth of a small exchange's CPU went to reading
    headers line by line); anything else (a folded line, a malformed one) goes line by line,
    which says what is wrong."""
    found = _HEADER_LINE.findall(b"".join(lines))
    if len(found) == len(lines) and len(lines) <= _MAX_HEADERS:
        return [(name, value.strip()) for name, value in found]
    return _header_lines(lines, request)


def _header_lines(lines: list[bytes], request: httpx.Request | None) -> list[tuple[bytes, bytes]]:
    """Header lines one by one: obsolete folded lines continue the previous value, and the
    first malformed line, or one too many, is a protocol error."""
    headers: list[tuple[bytes, bytes]] = []
    for line in lines:
        if len(headers) >= _MAX_HEADERS:
            raise httpx.RemoteProtocolError("response headers too large", request=request)
        if line[0] in b" \t":  # an obsolete folded line continues the previous value
            if not headers:
                raise httpx.RemoteProtocolError("malformed header line", request=request)
            name, value = headers[-1]
            headers[-1] = (name, value + b" " + line.strip())
            continue
        name, colon, value = line.partition(b":")
        name = name.strip()
        if not colon or not name or name != line[:len(name)]:
            raise httpx.RemoteProtocolError("malformed header line", request=request)
        headers.append((name, value.strip()))
    return headers


def _frame(head: _Head, method: str, request: httpx.Request | None) -> None:
    """How the body ends (RFC 9112, section 6.3), and whether the connection stays open."""
    connection = b""
    encoding = b""
    lengths: set[bytes] = set()
    for name, value in head.headers:
        if len(name) not in _FRAMING_LENGTHS:  # most headers: not one of the three below
            continue
        lowered = name.lower()
        if lowered == b"content-length":
            lengths.add(value)
        elif lowered == b"transfer-encoding":
            encoding = value.lower()
        elif lowered == b"connection":
            connection += b"," + value.lower()
    tokens = {t.strip() for t in connection.split(b",")}
    head.keep_alive = b"close" not in tokens if head.version == b"HTTP/1.1" else b"keep-alive" in tokens
    if method == "HEAD" or head.status in (204, 304) or 100 <= head.status < 200:
        head.length = 0
    elif encoding:
        if encoding.rsplit(b",", 1)[-1].strip() != b"chunked":  # the body runs to the end of the connection
            head.keep_alive = False
        else:
            head.chunked = True
    elif lengths:
        if len(lengths) != 1 or not next(iter(lengths)).isdigit():
            raise httpx.RemoteProtocolError("conflicting or malformed Content-Length", request=request)
        head.length = int(next(iter(lengths)))
    else:
        head.keep_alive = False  # no framing: the body is what comes before the server closes


class _Body(httpx.SyncByteStream):
    """A response body read from its connection; closing it gives the connection back when the
    body was read to its end and the server keeps the connection alive, else closes it."""

    def __init__(self, transport: WireTransport, origin: Origin, conn: _Connection, head: _Head,
                 request: httpx.Request | None) -> None:
        self._transport = transport
        self._origin = origin
        self._conn = conn
        self._head = head
        self._request = request
        self._complete = head.length == 0
        self._open = True

    def __iter__(self) -> Iterator[bytes]:
        if self._complete:
            return
        with _raised_as(self._request, httpx.ReadTimeout, httpx.ReadError, "reading"):
            yield from self._chunks() if self._head.chunked else self._sized(self._head.length)
        self._complete = True

    def _sized(self, length: int | None) -> Iterator[bytes]:
        reader = self._conn.reader
        if length is None:  # to the end of the connection
            while chunk := reader.read1(_CHUNK):
                yield chunk
            return
        while length > 0:
            chunk = reader.read1(min(length, _CHUNK))
            if not chunk:
                raise httpx.RemoteProtocolError(f"incomplete response body ({length} bytes missing)",
                                                request=self._request)
            length -= len(chunk)
            yield chunk

    def _chunks(self) -> Iterator[bytes]:
        reader = self._conn.reader
        while True:
            line = reader.readline(_MAX_LINE + 1)
            size_text = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not size_text or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
                raise httpx.RemoteProtocolError("malformed or incomplete chunked body", request=self._request)
            size = int(size_text, 16)
            if size == 0:
                break
            yield from self._sized(size)
            if reader.readline(_MAX_LINE + 1) not in (b"\r\n", b"\n"):
                raise httpx.RemoteProtocolError("malformed chunked body", request=self._request)
        while True:  # trailers, then the blank line
            line = reader.readline(_MAX_LINE + 1)
            if not line:
                raise httpx.RemoteProtocolError("incomplete chunked body", request=self._request)
            if line in (b"\r\n", b"\n"):
                return

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._transport._release(self._origin, self._conn, self._complete and self._head.keep_alive)
