"""Multipart uploads through the transport: the body's shape, streaming from a path, the retry
rules (a POST upload is not idempotent unless the caller says so) and no file content in logs."""

from __future__ import annotations

import email.parser
import email.policy
import logging

import httpx
import pytest
from platforge.provider._kit.client import FilePart, PlatformError, RetryPolicy, ServerError, SessionAuth, Transport

from .fakes import FakeTime, TopOfRange

CONTENT = b"id,secret\n1,s3cret-file-content\n"


def parts(request: httpx.Request) -> dict[str, tuple[str | None, str, bytes]]:
    """The parts of a multipart/form-data body: field name -> (file name, content type, bytes)."""
    content_type = request.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.content)
    assert message.is_multipart()
    out = {}
    for part in message.iter_parts():
        disposition = part.get("content-disposition")
        out[disposition.params["name"]] = (disposition.params.get("filename"), part.get_content_type(),
                                           part.get_payload(decode=True))
    return out


class Recorder:
    """Answers from a list of statuses (then 200) and keeps each request with its body read."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        status = self.statuses.pop(0) if self.statuses else 200
        return httpx.Response(status, json={"id": 1} if status < 400 else {"error": f"status {status}"})


def transport(handler, fake_time: FakeTime, **kwargs) -> Transport:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=4, backoff_base=0.5))
    return Transport("http://p.test", http_transport=httpx.MockTransport(handler), sleep=fake_time.sleep,
                     rng=TopOfRange(), **kwargs)


def test_the_body_has_one_part_per_file_and_field(fake_time):
    server = Recorder()
    t = transport(server, fake_time)
    response = t.upload("/api/datachain/jobs/files", {"file": FilePart.from_bytes(CONTENT, "data.csv")},
                        fields={"team_name": "acme", "note": "first upload"}, params={"team_name": "acme"})
    assert response.json() == {"id": 1}
    [request] = server.requests
    assert request.method == "POST" and request.url.params["team_name"] == "acme"
    assert parts(request) == {
        "team_name": (None, "text/plain", b"acme"),
        "note": (None, "text/plain", b"first upload"),
        "file": ("data.csv", "text/csv", CONTENT),
    }
    assert int(request.headers["content-length"]) == len(request.content)


class ChunkRecorder(httpx.BaseTransport):
    """A transport that consumes the body as a server would, chunk by chunk (MockTransport
    reads the whole body first, which would hide whether it was streamed)."""

    def __init__(self) -> None:
        self.chunks: list[int] = []
        self.body = b""
        self.headers: httpx.Headers | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        self.headers = request.headers
        for chunk in request.stream:
            self.chunks.append(len(chunk))
            self.body += chunk
        return httpx.Response(200, json={})


def test_a_path_is_streamed_with_its_length_and_the_same_field_may_repeat(fake_time, tmp_path):
    big = tmp_path / "bundle.tar.gz"
    big.write_bytes(bytes(range(256)) * 1024)  # 256 KiB: several of httpx's 64 KiB chunks
    small = tmp_path / "notes.txt"
    small.write_bytes(b"hello")
    wire = ChunkRecorder()
    Transport("http://p.test", http_transport=wire).upload(
        "/up", [("file", FilePart.from_path(big)), ("file", FilePart.from_path(small, content_type="text/x-notes"))])
    assert max(wire.chunks) <= 64 * 1024 and len(wire.chunks) > 4  # streamed from disk, not one blob
    assert wire.headers is not None and wire.headers["content-length"] == str(len(wire.body))
    assert "transfer-encoding" not in wire.headers
    assert wire.body.count(b'name="file"') == 2
    assert b'filename="bundle.tar.gz"' in wire.body and b"Content-Type: application/gzip" in wire.body
    assert bytes(range(256)) * 1024 in wire.body and b"Content-Type: text/x-notes\r\n\r\nhello" in wire.body


def test_a_multipart_post_is_not_retried_on_a_503(fake_time):
    server = Recorder(503)
    with pytest.raises(ServerError) as info:
        transport(server, fake_time).upload("/up", {"file": FilePart.from_bytes(CONTENT, "a.csv")})
    assert len(server.requests) == 1 and info.value.attempts == 1 and fake_time.sleeps == []


def test_a_multipart_upload_marked_idempotent_is_retried_with_the_whole_file(fake_time, tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(CONTENT)
    server = Recorder(503, 502)
    transport(server, fake_time).upload("/up", {"file": FilePart.from_path(path)}, idempotent=True)
    assert len(server.requests) == 3 and fake_time.sleeps == [0.5, 1.0]
    # Each attempt sends the file from its start (the open file is rewound).
    assert [parts(r)["file"][2] for r in server.requests] == [CONTENT] * 3


def test_a_429_is_retried_even_for_a_multipart_post(fake_time, tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(CONTENT)
    server = Recorder(429)
    transport(server, fake_time).upload("/up", {"file": FilePart.from_path(path)})
    assert [parts(r)["file"][2] for r in server.requests] == [CONTENT, CONTENT]


def test_a_put_upload_is_sent_once_unless_its_caller_vouches_for_a_repeat(fake_time):
    server = Recorder(503)
    with pytest.raises(PlatformError):
        transport(server, fake_time).upload("/up", {"file": FilePart.from_bytes(CONTENT, "a.csv")}, method="put")
    assert [r.method for r in server.requests] == ["PUT"]
    server = Recorder(503)
    transport(server, fake_time).upload("/up", {"file": FilePart.from_bytes(CONTENT, "a.csv")}, method="put",
                                        idempotent=True)
    assert [r.method for r in server.requests] == ["PUT", "PUT"]


def test_a_renewed_session_replays_the_whole_upload(fake_time, tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(CONTENT)
    server = Recorder(401)
    auth = SessionAuth(login=lambda: "fresh", token="stale")
    transport(server, fake_time, auth=auth).upload("/up", {"file": FilePart.from_path(path)})
    assert [r.headers["authorization"] for r in server.requests] == ["Bearer stale", "Bearer fresh"]
    assert [parts(r)["file"][2] for r in server.requests] == [CONTENT, CONTENT]


def test_file_contents_never_reach_a_log_line_or_an_error(fake_time, caplog):
    def echo_headers(request: httpx.Request) -> httpx.Response:
        request.read()
        return httpx.Response(503, json={"error": "busy"})

    part = FilePart.from_bytes(CONTENT, "a.csv")
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(ServerError) as info:
            transport(echo_headers, fake_time).upload("/up", {"file": part}, idempotent=True)
    assert len([r for r in caplog.records if r.getMessage().startswith("retrying POST /up")]) == 3
    text = caplog.text + str(info.value) + repr(info.value) + repr(part)
    assert b"s3cret-file-content".decode() not in text
    assert repr(part) == "FilePart('a.csv', bytes, 'text/csv')"


def test_invalid_parts_are_refused():
    with pytest.raises(TypeError, match="bytes or a path"):
        FilePart("looks like a path or data?")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one file"):
        Transport("http://p.test").upload("/up", {})
    with pytest.raises(TypeError, match="must be a FilePart"):
        Transport("http://p.test").upload("/up", {"file": b"raw"})  # type: ignore[dict-item]
