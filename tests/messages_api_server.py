"""A local fake of the Anthropic Messages API (and of an OpenAI-compatible chat endpoint), good
enough for the real ``anthropic`` client. For tests only: it listens on 127.0.0.1, port 0.

    with MessagesAPIServer(script=[Reply.rate_limited(retry_after="0"), Reply(text="Hi")]) as server:
        ...  # point a client at server.url (no /v1: the SDK adds it)
        server.requests            # every request: method, path, headers (lower-case), body
        server.requests_to("/v1/messages")

Endpoints: ``POST /v1/messages`` (SSE when the body says ``"stream": true``, else JSON),
``POST /v1/messages/count_tokens`` and ``POST /v1/chat/completions`` (OpenAI-style SSE or JSON).
The generation endpoints take their replies, in order, from ``script``; a reply with
``repeat=True`` is never used up; when the script is empty ``default`` answers. A reply with
``tool_calls`` (``Reply.tool_use(name, input)``) asks for tools: ``tool_use`` blocks on the
Messages API, ``tool_calls`` deltas on chat completions, streamed in pieces like the real ones. ``count_tokens``
does not consume the script: it answers ``count_tokens`` (an int), a character estimate
(``"auto"``), a 404 (None) or a scripted error (a Reply).

From another test file: ``from messages_api_server import MessagesAPIServer, Reply,
messages_api_server`` (the last is a pytest fixture factory: ``messages_api_server(script=...)``).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


def _default_usage() -> dict[str, int]:
    return {"input_tokens": 25, "output_tokens": 12,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


@dataclass
class Reply:
    """One scripted answer. A success streams ``chunks`` (default: ``text`` split after each
    word); an error has ``status`` >= 400; ``drop_after`` makes a stream stop after that many text
    deltas: abruptly (an incomplete chunked body) or, with ``clean_close``, by closing the
    connection politely without the final events; ``stream_error`` sends an SSE ``error`` event
    (on chat completions: a data line with an ``error`` object) of that type after
    ``drop_after`` deltas (0 when unset)."""

    text: str = "Hello from the fake Messages API."
    chunks: list[str] | None = None
    usage: dict[str, int] = field(default_factory=_default_usage)
    stop_reason: str = "end_turn"
    status: int = 200
    error_type: str | None = None
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop_after: int | None = None
    clean_close: bool = False
    stream_error: str | None = None
    delay_s: float = 0.0
    """Sleep before answering (to make a client time out)."""
    openai_usage: bool = True
    """Send a usage chunk on the OpenAI endpoint when the request asks for it."""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """Tools the model calls after its text: ``{"id", "name", "input"}`` each."""
    repeat: bool = False

    @property
    def deltas(self) -> list[str]:
        return list(self.chunks) if self.chunks is not None else re.findall(r"\S+\s*", self.text)

    @classmethod
    def tool_use(cls, name: str, input: dict[str, Any], id: str = "toolu_1", text: str = "",
                 **kwargs: Any) -> Reply:
        """The model calls one tool (more: pass ``tool_calls``), after ``text`` if any."""
        calls = kwargs.pop("tool_calls", None) or [{"id": id, "name": name, "input": input}]
        return cls(text=text, tool_calls=calls, stop_reason="tool_use", **kwargs)

    @classmethod
    def error(cls, status: int, message: str = "", error_type: str | None = None,
              headers: dict[str, str] | None = None, repeat: bool = False) -> Reply:
        if not message:
            try:
                message = HTTPStatus(status).phrase
            except ValueError:
                message = "error"
        return cls(status=status, error_type=error_type or _ERROR_TYPES.get(status, "api_error"),
                   message=message, headers=headers or {}, repeat=repeat)

    @classmethod
    def rate_limited(cls, retry_after: str | None = "0", repeat: bool = False) -> Reply:
        headers = {"retry-after": retry_after} if retry_after is not None else {}
        return cls.error(429, "Number of request tokens has exceeded your rate limit.",
                         headers=headers, repeat=repeat)

    @classmethod
    def overloaded(cls, repeat: bool = False) -> Reply:
        return cls.error(529, "Overloaded", "overloaded_error", repeat=repeat)

    @classmethod
    def server_error(cls, status: int = 500, repeat: bool = False) -> Reply:
        return cls.error(status, "Internal server error", "api_error", repeat=repeat)

    @classmethod
    def unauthorized(cls) -> Reply:
        return cls.error(401, "invalid x-api-key", "authentication_error")

    @classmethod
    def dropped(cls, after: int = 2, clean_close: bool = False, **kwargs: Any) -> Reply:
        return cls(drop_after=after, clean_close=clean_close, **kwargs)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class MessagesAPIServer:
    def __init__(self, script: list[Reply] | tuple[Reply, ...] = (), *,
                 default: Reply | None = None, count_tokens: int | str | Reply | None = "auto"):
        self.script: deque[Reply] = deque(script)
        self.default = default or Reply()
        self.count_tokens = count_tokens
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> MessagesAPIServer:
        handler = type("Handler", (_Handler,), {"api": self})
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> MessagesAPIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` — the Anthropic client's base_url (it adds ``/v1/...``)."""
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def openai_url(self) -> str:
        """The OpenAI-compatible base_url (``.../v1``; clients add ``/chat/completions``)."""
        return f"{self.url}/v1"

    # -- inspection
    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    @property
    def paths(self) -> list[str]:
        with self._lock:
            return [request.path for request in self.requests]

    # -- internals
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_reply(self) -> Reply:
        with self._lock:
            if not self.script:
                return self.default
            reply = self.script[0]
            if not reply.repeat:
                self.script.popleft()
            return reply


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up (timeouts, dropped streams) are part of the tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    api: MessagesAPIServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing
    def _read_body(self) -> Any:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return raw.decode("utf-8", "replace")

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_fake")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _start_stream(self, chunked: bool) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("request-id", "req_fake")
        if chunked:
            self.send_header("transfer-encoding", "chunked")
        else:
            self.send_header("connection", "close")
            self.close_connection = True
        self.end_headers()
        self._chunked = chunked

    def _write(self, data: bytes) -> None:
        if self._chunked:
            data = b"%x\r\n" % len(data) + data + b"\r\n"
        self.wfile.write(data)
        self.wfile.flush()

    def _end_stream(self) -> None:
        if self._chunked:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    def _drop(self, reply: Reply) -> None:
        """Stop the stream: politely (EOF with nothing missing at the HTTP level) or abruptly."""
        self.close_connection = True
        if not reply.clean_close:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        body = self._read_body()
        self.api._record(RecordedRequest("POST", path, {k.lower(): v for k, v in
                                                        self.headers.items()}, body))
        if path == "/v1/messages/count_tokens":
            self._count_tokens(body)
        elif path == "/v1/messages":
            self._messages(body, self.api._next_reply())
        elif path == "/v1/chat/completions":
            self._chat_completions(body, self.api._next_reply())
        else:
            self._send_json(404, {"type": "error", "error": {
                "type": "not_found_error", "message": f"no route {path}"}})

    # -- Anthropic
    def _anthropic_error(self, reply: Reply) -> None:
        self._send_json(reply.status, {"type": "error", "error": {
            "type": reply.error_type, "message": reply.message}, "request_id": "req_fake"},
            reply.headers)

    def _count_tokens(self, body: Any) -> None:
        setting = self.api.count_tokens
        if setting is None:
            self._send_json(404, {"type": "error", "error": {
                "type": "not_found_error", "message": "Not Found"}})
        elif isinstance(setting, Reply):
            self._anthropic_error(setting)
        elif setting == "auto":
            self._send_json(200, {"input_tokens": max(1, _text_chars(body) // 4)})
        else:
            self._send_json(200, {"input_tokens": int(setting)})

    def _messages(self, body: Any, reply: Reply) -> None:
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.status >= 400:
            self._anthropic_error(reply)
            return
        model = (body or {}).get("model", "claude-fake")
        usage = {**_default_usage(), **reply.usage}
        if not (body or {}).get("stream"):
            self._send_json(200, {
                "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                "content": _text_blocks(reply) + [
                    {"type": "tool_use", **call} for call in reply.tool_calls],
                "stop_reason": reply.stop_reason, "stop_sequence": None, "usage": usage},
                reply.headers)
            return

        def event(name: str, data: dict[str, Any]) -> None:
            self._write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

        self._start_stream(chunked=not (reply.drop_after is not None and reply.clean_close))
        start_usage = {"input_tokens": usage["input_tokens"], "output_tokens": 1,
                       "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                       "cache_read_input_tokens": usage["cache_read_input_tokens"]}
        event("message_start", {"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}})
        with_text = bool(_text_blocks(reply))
        if with_text:
            event("content_block_start", {"type": "content_block_start", "index": 0,
                                          "content_block": {"type": "text", "text": ""}})
        event("ping", {"type": "ping"})
        for number, delta in enumerate(reply.deltas):
            if reply.stream_error and number == (reply.drop_after or 0):
                break
            if reply.drop_after is not None and number == reply.drop_after:
                self._drop(reply)
                return
            event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                          "delta": {"type": "text_delta", "text": delta}})
        if reply.stream_error:
            event("error", {"type": "error", "error": {"type": reply.stream_error,
                                                       "message": "Overloaded"}})
            self._end_stream()
            return
        if reply.drop_after is not None:
            self._drop(reply)
            return
        if with_text:
            event("content_block_stop", {"type": "content_block_stop", "index": 0})
        for index, call in enumerate(reply.tool_calls, start=int(with_text)):
            event("content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": {"type": "tool_use", "id": call["id"],
                                                            "name": call["name"], "input": {}}})
            arguments = json.dumps(call["input"])
            for piece in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2:]):
                event("content_block_delta", {"type": "content_block_delta", "index": index,
                                              "delta": {"type": "input_json_delta",
                                                        "partial_json": piece}})
            event("content_block_stop", {"type": "content_block_stop", "index": index})
        event("message_delta", {"type": "message_delta",
                                "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
                                "usage": {"output_tokens": usage["output_tokens"]}})
        event("message_stop", {"type": "message_stop"})
        self._end_stream()

    # -- OpenAI-compatible
    def _chat_completions(self, body: Any, reply: Reply) -> None:
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.status >= 400:
            self._send_json(reply.status, {"error": {"message": reply.message,
                                                     "type": reply.error_type, "code": None}},
                            reply.headers)
            return
        body = body or {}
        model = body.get("model", "local-model")
        usage = {**_default_usage(), **reply.usage}
        finish = {"end_turn": "stop", "max_tokens": "length",
                  "tool_use": "tool_calls"}.get(reply.stop_reason, reply.stop_reason)
        openai_calls = [{"id": call["id"], "type": "function", "function": {
            "name": call["name"], "arguments": json.dumps(call["input"])}}
            for call in reply.tool_calls]
        openai_usage = {"prompt_tokens": usage["input_tokens"],
                        "completion_tokens": usage["output_tokens"],
                        "total_tokens": usage["input_tokens"] + usage["output_tokens"]}
        if not body.get("stream"):
            self._send_json(200, {
                "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
                "choices": [{"index": 0, "finish_reason": finish, "message": {
                    "role": "assistant", "content": "".join(reply.deltas) or None,
                    **({"tool_calls": openai_calls} if openai_calls else {})}}],
                "usage": openai_usage})
            return

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> None:
            data = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                    "model": model, "choices": [{"index": 0, "delta": delta,
                                                 "finish_reason": finish_reason}]}
            self._write(f"data: {json.dumps(data)}\n\n".encode())

        self._start_stream(chunked=not (reply.drop_after is not None and reply.clean_close))
        chunk({"role": "assistant", "content": ""})
        for number, delta in enumerate(reply.deltas):
            if reply.stream_error and number == (reply.drop_after or 0):
                break
            if reply.drop_after is not None and number == reply.drop_after:
                self._drop(reply)
                return
            chunk({"content": delta})
        if reply.stream_error:  # vLLM and llama.cpp send an error object as a data line
            data = {"error": {"message": "Overloaded", "type": reply.stream_error, "code": 500}}
            self._write(f"data: {json.dumps(data)}\n\n".encode())
            self._end_stream()
            return
        if reply.drop_after is not None:
            self._drop(reply)
            return
        for index, call in enumerate(openai_calls):  # the name first, the arguments in pieces
            arguments = call["function"]["arguments"]
            chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                   "function": {"name": call["function"]["name"],
                                                "arguments": ""}}]})
            for piece in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2:]):
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        chunk({}, finish)
        if reply.openai_usage and (body.get("stream_options") or {}).get("include_usage"):
            data = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                    "model": model, "choices": [], "usage": openai_usage}
            self._write(f"data: {json.dumps(data)}\n\n".encode())
        self._write(b"data: [DONE]\n\n")
        self._end_stream()


def _text_blocks(reply: Reply) -> list[dict[str, str]]:
    """The reply's text block: absent when the model only calls tools, as the real API does."""
    text = "".join(reply.deltas)
    return [{"type": "text", "text": text}] if text or not reply.tool_calls else []


def _text_chars(body: Any) -> int:
    """Characters of text in a Messages request (system blocks and message contents)."""
    if not isinstance(body, dict):
        return 0
    total = 0
    system = body.get("system")
    if isinstance(system, str):
        total += len(system)
    elif isinstance(system, list):
        total += sum(len(block.get("text", "")) for block in system if isinstance(block, dict))
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(str(block.get("text") or block.get("content") or ""))
                         for block in content if isinstance(block, dict))
    return total


@pytest.fixture
def messages_api_server():
    """A factory: ``server = messages_api_server(script=[...])`` starts one; all stop at the end."""
    servers: list[MessagesAPIServer] = []

    def start(script: list[Reply] | tuple[Reply, ...] = (), **kwargs: Any) -> MessagesAPIServer:
        server = MessagesAPIServer(script, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
