"""The kit's wire (`_wire.WireTransport`, HTTP/1.1 on kept-alive sockets under httpx) against
scripted raw-socket servers: what the retry rules depend on is which exception each failure raises
(could the request have reached the server?), that a kept-alive connection the server closed is
never used for the next request, and that bodies are framed as RFC 9112 says."""

from __future__ import annotations

import datetime
import gzip
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from platforge.provider._kit.client import ConnectionRefused, TlsError, TransportError
from platforge.provider._kit.client._retry import MAYBE_SENT, NOT_SENT, RetryPolicy
from platforge.provider._kit.client._transport import Transport
from platforge.provider._kit.client._wire import (
    _EAGER_MAX,
    WireTransport,
    _header_lines,
    _parse_headers,
    wire_transport,
)

Handler = Callable[[socket.socket, int], None]


class Server:
    """Accepts connections on 127.0.0.1 and gives each to `handler(sock, n)` (n counts
    connections from 0) in a thread of its own."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.handler = handler
        self.tls = tls
        self.connections = 0
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            n = self.connections
            self.connections += 1
            if self.tls is not None:
                try:
                    sock = self.tls.wrap_socket(sock, server_side=True)
                except (OSError, ssl.SSLError):
                    sock.close()
                    continue
            threading.Thread(target=self._run, args=(sock, n), daemon=True).start()

    def _run(self, sock: socket.socket, n: int) -> None:
        try:
            self.handler(sock, n)
        except OSError:
            pass
        finally:
            sock.close()

    def read_request(self, sock: socket.socket) -> bytes | None:
        """One request (head and a Content-Length or chunked body), or None at end of file."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        headers = {line.split(b":", 1)[0].strip().lower(): line.split(b":", 1)[1].strip()
                   for line in head.split(b"\r\n")[1:]}
        if b"content-length" in headers:
            length = int(headers[b"content-length"])
            while len(rest) < length:
                rest += sock.recv(65536)
            body = rest[:length]
        elif headers.get(b"transfer-encoding") == b"chunked":
            while not rest.endswith(b"0\r\n\r\n"):
                rest += sock.recv(65536)
            body, raw = b"", rest
            while True:
                size_line, _, raw = raw.partition(b"\r\n")
                size = int(size_line, 16)
                if size == 0:
                    break
                body, raw = body + raw[:size], raw[size + 2:]
        else:
            body = b""
        self.requests.append(head + b"\r\n\r\n" + body)
        return head + b"\r\n\r\n" + body

    def close(self) -> None:
        self.listener.close()


def reply(body: bytes = b"{}", status: str = "200 OK", headers: tuple[str, ...] = ()) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture
def serve():
    servers: list[Server] = []

    def start(handler: Handler, tls: ssl.SSLContext | None = None) -> Server:
        server = Server(handler, tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def keep_alive(server_ref: list[Server], answer: Callable[[bytes], bytes] = lambda _: reply()) -> Handler:
    def handler(sock: socket.socket, n: int) -> None:
        while (request := server_ref[0].read_request(sock)) is not None:
            sock.sendall(answer(request))
    return handler


def client(url: str, **kwargs) -> httpx.Client:
    return httpx.Client(base_url=url, transport=WireTransport(**kwargs), timeout=httpx.Timeout(5.0))


def test_requests_share_one_kept_alive_connection_and_carry_their_bodies(serve):
    ref: list[Server] = []
    ref.append(serve(keep_alive(ref, lambda req: reply(json.dumps({"echo": req.split(b"\r\n\r\n", 1)[1].decode()}).encode(),
                                                        headers=("Set-Cookie: a=1", "Set-Cookie: b=2")))))
    with client(ref[0].url) as c:
        first = c.get("/api/x", params={"q": "a b", "n": 2})
        second = c.post("/api/y", json={"k": "v"})
        third = c.delete("/api/z/1")
    assert ref[0].connections == 1
    assert first.status_code == 200 and first.json() == {"echo": ""}
    assert first.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert second.json() == {"echo": '{"k":"v"}'}
    assert third.status_code == 200
    head = ref[0].requests[0].split(b"\r\n")[0]
    assert head == b"GET /api/x?q=a+b&n=2 HTTP/1.1"
    assert b"\r\nhost: 127.0.0.1:" in ref[0].requests[0].lower()
    assert first.extensions["http_version"] == b"HTTP/1.1" and first.reason_phrase == "OK"


def test_a_chunked_and_gzipped_answer_is_read_whole(serve):
    payload = json.dumps({"items": list(range(5000))}).encode()
    packed = gzip.compress(payload)

    def handler(sock: socket.socket, n: int) -> None:
        while server.read_request(sock) is not None:
            chunks = b"".join(b"%X\r\n%s\r\n" % (len(packed[i:i + 1000]), packed[i:i + 1000])
                              for i in range(0, len(packed), 1000))
            sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
                         + chunks + b"0\r\n\r\n")

    server = serve(handler)
    with client(server.url) as c:
        assert c.get("/").json()["items"][-1] == 4999
        assert c.get("/").status_code == 200
    assert server.connections == 1


def test_a_streamed_upload_is_sent_chunked_as_it_is_read(serve):
    ref: list[Server] = []
    ref.append(serve(keep_alive(ref)))
    with client(ref[0].url) as c:
        assert c.post("/upload", content=iter([b"first,", b"", b"second"])).status_code == 200
    request = ref[0].requests[0]
    assert b"transfer-encoding: chunked" in request.lower()
    assert request.endswith(b"\r\n\r\nfirst,second")


def test_a_kept_alive_connection_the_server_closed_is_not_used_again(serve):
    """The server answers and closes without saying so: the next request must go out on a
    new connection, not fail (or, worse, count as maybe sent)."""
    def handler(sock: socket.socket, n: int) -> None:
        if server.read_request(sock) is not None:
            sock.sendall(reply())
        sock.shutdown(socket.SHUT_RDWR)

    server = serve(handler)
    with client(server.url) as c:
        for _ in range(3):
            assert c.post("/api/write", json={}).status_code == 200
            time.sleep(0.05)  # the server's close reaches us before the next request
    assert server.connections == 3 and len(server.requests) == 3


def test_connection_close_is_honoured(serve):
    ref: list[Server] = []
    ref.append(serve(keep_alive(ref, lambda _: reply(headers=("Connection: close",)))))
    with client(ref[0].url) as c:
        assert c.get("/a").status_code == 200
        assert c.get("/b").status_code == 200
    assert ref[0].connections == 2


def test_connection_refused_is_a_connect_error_caused_by_the_os(serve):
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with client(f"http://127.0.0.1:{port}") as c, pytest.raises(httpx.ConnectError) as info:
        c.get("/")
    assert isinstance(info.value, NOT_SENT)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    with Transport(f"http://127.0.0.1:{port}", retry=RetryPolicy(connect_refused_budget=0)) as t, \
            pytest.raises(ConnectionRefused):
        t.request("GET", "/")


def test_a_server_that_closes_without_answering_may_have_acted(serve):
    """Read, then hang up: the request reached the server. A POST is not sent again; a GET is."""
    def handler(sock: socket.socket, n: int) -> None:
        if server.read_request(sock) is not None and n >= 2:
            sock.sendall(reply())

    server = serve(handler)
    with client(server.url) as c, pytest.raises(httpx.RemoteProtocolError) as info:
        c.get("/")
    assert isinstance(info.value, MAYBE_SENT) and not isinstance(info.value, NOT_SENT)
    with Transport(server.url, retry=RetryPolicy(backoff_base=0.01)) as t:
        with pytest.raises(TransportError) as refused:
            t.request("POST", "/api/create", json={})
        assert refused.value.request_sent is True
        assert len(server.requests) == 2  # the POST went once
        assert t.request("GET", "/api/list").status_code == 200  # a GET is retried
    assert len(server.requests) == 3


def test_a_body_cut_short_is_a_protocol_error(serve):
    def handler(sock: socket.socket, n: int) -> None:
        if server.read_request(sock) is not None:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\":")

    server = serve(handler)
    with client(server.url) as c, pytest.raises(httpx.RemoteProtocolError):
        c.get("/")


def test_a_silent_server_is_a_read_timeout(serve):
    release = threading.Event()

    def handler(sock: socket.socket, n: int) -> None:
        server.read_request(sock)
        release.wait(5)

    server = serve(handler)
    c = httpx.Client(base_url=server.url, transport=WireTransport(), timeout=httpx.Timeout(5.0, read=0.2))
    with c, pytest.raises(httpx.ReadTimeout):
        c.get("/")
    release.set()


def test_a_full_pool_waits_then_times_out(serve):
    ref: list[Server] = []
    big = reply(b"x" * (_EAGER_MAX + 1))  # streamed, not read with its head
    ref.append(serve(keep_alive(ref, lambda request: big if b" /held " in request else reply())))
    transport = WireTransport(limits=httpx.Limits(max_connections=1))
    c = httpx.Client(base_url=ref[0].url, transport=transport, timeout=httpx.Timeout(5.0, pool=0.2))
    with c:
        held = c.send(c.build_request("GET", "/held"), stream=True)  # not read: holds the only slot
        with pytest.raises(httpx.PoolTimeout) as info:
            c.get("/waits")
        assert isinstance(info.value, NOT_SENT)
        held.read()
        held.close()
        assert c.get("/now").status_code == 200
    assert [r.split(b" ")[1] for r in ref[0].requests] == [b"/held", b"/now"]


def test_a_small_body_is_read_with_its_head_and_frees_its_connection_at_once(serve):
    ref: list[Server] = []
    small = reply(b"y" * _EAGER_MAX)
    ref.append(serve(keep_alive(ref, lambda _: small)))
    transport = WireTransport(limits=httpx.Limits(max_connections=1))
    c = httpx.Client(base_url=ref[0].url, transport=transport, timeout=httpx.Timeout(5.0, pool=0.2))
    with c:
        first = c.send(c.build_request("GET", "/first"), stream=True)  # not read by the caller
        second = c.get("/second")  # the only slot is free: the first body is already in hand
        assert second.content == b"y" * _EAGER_MAX
        assert first.read() == b"y" * _EAGER_MAX
    assert ref[0].connections == 1  # and the connection went back to the pool, kept alive


def test_an_unread_body_closes_its_connection_instead_of_pooling_it(serve):
    ref: list[Server] = []
    ref.append(serve(keep_alive(ref, lambda _: reply(b"x" * 200_000))))
    with client(ref[0].url) as c:
        with c.stream("GET", "/big") as response:
            assert response.status_code == 200  # closed before the body was read
        assert c.get("/next").status_code == 200
    assert ref[0].connections == 2


def test_threads_share_the_pool_without_mixing_answers(serve):
    ref: list[Server] = []
    ref.append(serve(keep_alive(ref, lambda req: reply(json.dumps({"path": req.split(b" ")[1].decode()}).encode()))))
    errors: list[str] = []
    with client(ref[0].url, limits=httpx.Limits(max_connections=4, max_keepalive_connections=4)) as c:
        def work(k: int) -> None:
            for i in range(25):
                got = c.get(f"/t{k}/{i}").json()["path"]
                if got != f"/t{k}/{i}":
                    errors.append(got)
        threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == [] and len(ref[0].requests) == 150
    assert ref[0].connections <= 4


# ── TLS ───────────────────────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA)."""
    x509 = pytest.importorskip("cryptography.x509")
    import ipaddress

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "platforge test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def tls_server(serve, certificate) -> Server:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    ref: list[Server] = []
    ref.append(serve(keep_alive(ref), tls=context))
    return ref[0]


def test_https_is_verified_against_the_given_ca(serve, certificate):
    server = tls_server(serve, certificate)
    with Transport(server.url, verify=ssl.create_default_context(cafile=str(certificate[0]))) as t:
        assert t.request("GET", "/api/a").status_code == 200
        assert t.request("GET", "/api/b").status_code == 200
    assert server.connections == 1


def test_an_untrusted_certificate_is_a_tls_error_sent_nowhere(serve, certificate):
    server = tls_server(serve, certificate)
    with Transport(server.url) as t, pytest.raises(TlsError) as info:
        t.request("POST", "/api/create", json={})
    assert "not trusted" in info.value.message
    assert server.requests == [] and t.stats.attempts == 1


def test_https_to_a_plain_http_port_is_a_tls_error(serve):
    def handler(sock: socket.socket, n: int) -> None:  # a plain HTTP server's answer to a TLS hello
        sock.recv(65536)
        sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    server = serve(handler)
    with Transport(server.url.replace("http://", "https://")) as t, pytest.raises(TlsError) as info:
        t.request("GET", "/")
    assert "scheme" in info.value.message


# ── which transport a client gets ─────────────────────────────────────────────────────────────


def test_a_proxy_from_the_environment_keeps_httpx_default_transport(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(wire_transport("https://dss.example.com"), WireTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
    assert wire_transport("https://dss.example.com") is None
    assert isinstance(wire_transport("http://dss.example.com"), WireTransport)  # no proxy for http
    monkeypatch.setenv("NO_PROXY", "example.com")
    assert isinstance(wire_transport("https://dss.example.com"), WireTransport)
    monkeypatch.delenv("NO_PROXY")
    transport = Transport("https://dss.example.com")
    assert not isinstance(transport._client._transport, WireTransport)
    transport.close()


def test_the_kit_uses_the_wire_by_default(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with Transport("http://127.0.0.1:9") as t:
        assert isinstance(t._client._transport, WireTransport)


# ── framing (RFC 9112, section 6) ─────────────────────────────────────────────────────────────


def scripted(serve, answers: list[bytes]) -> Server:
    """A server that answers the n-th request on a connection with answers[n], then closes."""
    def handler(sock: socket.socket, n: int) -> None:
        for answer in answers:
            if server.read_request(sock) is None:
                return
            sock.sendall(answer)
    server = serve(handler)
    return server


def test_head_204_and_304_have_no_body_and_keep_the_connection(serve):
    server = scripted(serve, [b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",  # HEAD: length of a GET's body
                              b"HTTP/1.1 204 No Content\r\n\r\n",
                              b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
                              reply(b'{"after": true}')])
    with client(server.url) as c:
        head = c.head("/a")
        assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == "1234"
        assert c.delete("/b").status_code == 204
        assert c.get("/c").status_code == 304
        assert c.get("/d").json() == {"after": True}
    assert server.connections == 1


def test_an_interim_100_continue_is_skipped(serve):
    server = scripted(serve, [b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"])
    with client(server.url) as c:
        response = c.post("/x", json={})
    assert response.status_code == 201 and response.json() == {}


def test_a_body_without_framing_runs_to_the_end_of_the_connection(serve):
    def handler(sock: socket.socket, n: int) -> None:
        if server.read_request(sock) is not None:
            sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + b'{"items": [1, 2, 3]}')
    server = serve(handler)
    with client(server.url) as c:
        assert c.get("/a").json() == {"items": [1, 2, 3]}
        assert c.get("/b").json() == {"items": [1, 2, 3]}
    assert server.connections == 2


def test_chunk_extensions_trailers_and_folded_headers_are_read(serve):
    server = scripted(serve, [b"HTTP/1.1 200 OK\r\nX-Long: first\r\n  second\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"4;ext=1\r\n{\"a\"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n", reply()])
    with client(server.url) as c:
        response = c.get("/a")
        assert response.json() == {"a": 1} and response.headers["x-long"] == "first second"
        assert c.get("/b").status_code == 200
    assert server.connections == 1


@pytest.mark.parametrize("answer", [
    b"HTTP/2 200 OK\r\n\r\n",
    b"garbage\r\n\r\n",
    b"HTTP/1.1 20 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Le",
], ids=["version", "garbage", "status", "two-lengths", "header", "chunk-size", "short-chunk", "cut-head"])
def test_a_malformed_answer_is_a_protocol_error_after_sending(serve, answer):
    def handler(sock: socket.socket, n: int) -> None:
        if server.read_request(sock) is not None:
            sock.sendall(answer)
            sock.shutdown(socket.SHUT_WR)
            time.sleep(0.2)
    server = serve(handler)
    with client(server.url) as c, pytest.raises(httpx.RemoteProtocolError) as info:
        c.get("/")
    assert isinstance(info.value, MAYBE_SENT) and not isinstance(info.value, NOT_SENT)


# ── header lines: one expression, or line by line ─────────────────────────────────────────────

_names = st.sampled_from([b"Content-Length", b"x-a", b"Set-Cookie", b"a b", b"", b" lead", b"trail ", b"n\x0b",
                          b"caf\xc3\xa9", b"k:v"])
_values = st.sampled_from([b"", b" 1", b"\tv\t", b" a:b ", b" \x0bx\x0c ", b" x\ry", b" \xff"])
_lines = st.one_of(st.builds(lambda n, v, end: n + b":" + v + end, _names, _values, st.sampled_from([b"\r\n", b"\n"])),
                   st.sampled_from([b" folded\r\n", b"\tfolded\r\n", b"no colon\r\n", b":\r\n", b"x\r\r\n"]))


def _outcome(parse, lines):
    try:
        return parse(lines, None)
    except httpx.RemoteProtocolError as exc:
        return type(exc)


@settings(max_examples=500, deadline=None)
@given(st.lists(_lines, max_size=6))
def test_headers_read_by_one_expression_are_what_reading_line_by_line_gives(lines):
    assert _outcome(_parse_headers, lines) == _outcome(_header_lines, lines)


def test_more_than_a_hundred_header_lines_are_too_many():
    lines = [b"x-%d: v\r\n" % i for i in range(101)]
    with pytest.raises(httpx.RemoteProtocolError):
        _parse_headers(lines, None)
    assert len(_parse_headers(lines[:100], None)) == 100
