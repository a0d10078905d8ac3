"""HTTP/1.1 exchanges for the kit's `httpx.Client` over the standard library's `http.client`.

Why: a plan reads every listing and settings document it needs, hundreds to thousands of
exchanges, and httpx's default transport (httpcore over h11, both pure Python) costs about
0.6 ms of client CPU per exchange. `http.client` parses the status line and headers in C-backed
code and does the same exchange in about half of that; at DSS's 1,383 documents for a
10,000-object stack that is the difference between meeting and missing a 2 s plan budget.
httpx stays the client the kit and the platforms program against (requests, auth flows,
hooks, responses); only the wire under it changes.

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

import http.client
import os
import select
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx

_DEFAULT_PORTS = {"http": 80, "https": 443}
_CHUNK = 65536

Origin = tuple[str, str, int]


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


class WireTransport(httpx.BaseTransport):
    """A pool of kept-alive `http.client` connections per origin, shared by the client's
    threads: at most `max_connections` exchanges at once (a caller waits up to the pool
    timeout, then `PoolTimeout`), at most `max_keepalive_connections` idle connections kept, each
    for `keepalive_expiry` seconds."""

    def __init__(self, *, verify: bool | str | ssl.SSLContext = True, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits()
        self._verify = verify
        self._ssl_context: ssl.SSLContext | None = None
        self._max_idle = limits.max_keepalive_connections if limits.max_keepalive_connections is not None else 1 << 30
        self._expiry = limits.keepalive_expiry
        self._slots = threading.BoundedSemaphore(limits.max_connections) if limits.max_connections else None
        self._idle: dict[Origin, list[tuple[http.client.HTTPConnection, float]]] = {}
        self._lock = threading.Lock()
        self._closed = False

    # httpx.BaseTransport ------------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"request URL has an unsupported protocol {url.scheme!r}", request=request)
        origin = (url.scheme, url.host, url.port or _DEFAULT_PORTS[url.scheme])
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        self._take_slot(request, timeouts.get("pool"))
        try:
            conn = self._connection(request, origin, timeouts.get("connect"))
            try:
                response = self._exchange(conn, request, timeouts)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            self._give_slot()
            raise
        return httpx.Response(
            response.status,
            headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.getheaders()],
            stream=_Body(self, origin, conn, response, request),
            extensions={"http_version": b"HTTP/1.1" if response.version == 11 else b"HTTP/1.0",
                        "reason_phrase": response.reason.encode("latin-1", "replace")},
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn, _ in conns:
                conn.close()

    # Connections ----------------------------------------------------------------------------------

    def _take_slot(self, request: httpx.Request, timeout: float | None) -> None:
        if self._slots is not None and not self._slots.acquire(timeout=timeout if timeout is not None else -1):
            raise httpx.PoolTimeout("no connection became free within the pool timeout", request=request)

    def _give_slot(self) -> None:
        if self._slots is not None:
            self._slots.release()

    def _connection(self, request: httpx.Request, origin: Origin, timeout: float | None) -> http.client.HTTPConnection:
        """A kept-alive connection that is still usable, else a new one."""
        now = time.monotonic()
        while True:
            with self._lock:
                pooled = self._idle.get(origin)
                conn, since = pooled.pop() if pooled else (None, 0.0)
            if conn is None:
                break
            if (self._expiry is not None and now - since > self._expiry) or _dropped(conn):
                conn.close()
                continue
            return conn
        scheme, host, port = origin
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._tls())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.connect()
        except TimeoutError as exc:
            conn.close()
            raise httpx.ConnectTimeout(str(exc) or "timed out while connecting", request=request) from exc
        except OSError as exc:  # refused, unreachable, DNS (gaierror), TLS (ssl.SSLError)
            conn.close()
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return conn

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

    def _release(self, origin: Origin, conn: http.client.HTTPConnection, reusable: bool) -> None:
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

    # One exchange -----------------------------------------------------------------------------------

    def _exchange(self, conn: http.client.HTTPConnection, request: httpx.Request,
                  timeouts: dict[str, float | None]) -> http.client.HTTPResponse:
        assert conn.sock is not None  # connected by _connection
        conn.sock.settimeout(timeouts.get("write"))
        target = request.url.raw_path.decode("ascii")
        chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
        try:
            conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers.raw:
                conn.putheader(name.decode("latin-1"), value)
            if isinstance(request.stream, httpx.ByteStream):
                body = b"".join(request.stream)
                conn.endheaders(body or None)
            else:  # a streamed upload: sent as it is read, never held whole
                conn.endheaders()
                for chunk in request.stream:  # type: ignore[union-attr]
                    if chunked:
                        if chunk:
                            conn.send(b"%X\r\n%s\r\n" % (len(chunk), chunk))
                    else:
                        conn.send(chunk)
                if chunked:
                    conn.send(b"0\r\n\r\n")
        except TimeoutError as exc:
            raise httpx.WriteTimeout(str(exc) or "timed out while sending", request=request) from exc
        except OSError as exc:
            raise httpx.WriteError(str(exc) or type(exc).__name__, request=request) from exc
        conn.sock.settimeout(timeouts.get("read"))
        try:
            return conn.getresponse()
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out while reading", request=request) from exc
        except http.client.RemoteDisconnected as exc:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request) from exc
        except http.client.HTTPException as exc:
            raise httpx.RemoteProtocolError(f"malformed response ({type(exc).__name__})", request=request) from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc


class _Body(httpx.SyncByteStream):
    """A response body read from its connection; closing it gives the connection back when the
    body was read to its end and the server keeps the connection alive, else closes it."""

    def __init__(self, transport: WireTransport, origin: Origin, conn: http.client.HTTPConnection,
                 response: http.client.HTTPResponse, request: httpx.Request) -> None:
        self._transport = transport
        self._origin = origin
        self._conn = conn
        self._response = response
        self._request = request
        self._open = True

    def __iter__(self) -> Iterator[bytes]:
        request = self._request
        try:
            while chunk := self._response.read(_CHUNK):
                yield chunk
            if self._response.length:  # http.client ends a short Content-Length body quietly
                raise httpx.RemoteProtocolError(f"incomplete response body ({self._response.length} bytes missing)",
                                                request=request)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out while reading", request=request) from exc
        except http.client.HTTPException as exc:  # IncompleteRead: the body ended early
            raise httpx.RemoteProtocolError(f"incomplete response body ({type(exc).__name__})", request=request) from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        response = self._response
        reusable = response.isclosed() and not response.will_close
        if not reusable:
            response.close()
        self._transport._release(self._origin, self._conn, reusable)


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle connection can no longer carry a request: its socket is gone, or is
    readable (the server closed it, or sent bytes no request asked for)."""
    sock: Any = conn.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True
