"""HTTP hardening in process: security headers, /docs without inline script, the error answers the OpenAPI
declares, bodies bounded whatever their framing, /metrics behind its token, text kept in NFC."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from taskstream.api.app import create_app
from taskstream.runtime import Runtime
from tests.conftest import sign_up


def _client(runtime: Runtime, base: str = "http://test") -> httpx.AsyncClient:
    app = create_app(runtime.api_context(), runtime.engine)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


@pytest.fixture
async def tls_client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(runtime, "https://tasks.example.com") as http:
        yield http


async def test_every_answer_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    answers = [
        await client.get("/"),
        await client.get("/docs"),
        await client.get("/openapi.json"),
        await client.get("/api/v1/tasks"),  # 401
        await client.get("/no/such/page"),  # 404 from the framework
        await client.get("/static/app.js"),
    ]
    for answer in answers:
        headers = answer.headers
        policy = headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy, policy
        for directive in ("frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"):
            assert directive in policy
        assert "ws://test" in policy and "wss://test" in policy  # the same origin's WebSocket
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in headers  # not over TLS


async def test_hsts_only_over_tls(tls_client: httpx.AsyncClient) -> None:
    answer = await tls_client.get("/healthz")
    assert answer.headers["strict-transport-security"].startswith("max-age=")
    assert "wss://tasks.example.com" in answer.headers["content-security-policy"]


async def test_docs_page_loads_files_only(client: httpx.AsyncClient) -> None:
    page = (await client.get("/docs")).text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert scripts and all('src="/' in attrs and not body.strip() for attrs, body in scripts), scripts
    assert not re.search(r"\son[a-z]+=|style=", page)
    for src in re.findall(r'(?:src|href)="(/[^"]+)"', page):
        assert (await client.get(src)).status_code == 200, src
    assert "SwaggerUIBundle(" in (await client.get("/docs/init.js")).text


def test_the_web_ui_has_no_inline_script_handler_or_style() -> None:
    web = Path(__file__).resolve().parents[2] / "src" / "taskstream" / "web"
    for page in web.rglob("*.html"):
        text = page.read_text()
        assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", text), page  # every script is a file
        assert not re.search(r"\son[a-z]+\s*=|\sstyle\s*=|javascript:", text), page
    for script in web.rglob("*.js"):
        text = script.read_text()
        # What the policy would block: code from strings, and style attributes (CSSOM .style is allowed).
        assert not re.search(r"\beval\(|new Function|setTimeout\(\s*[\"'`]", text), script
        assert not re.search(r"setAttribute\(\s*[\"']style|style=", text), script


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, o) for p, ops in schema["paths"].items() for m, o in ops.items()]


async def test_every_operation_declares_its_errors_with_the_error_body(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in str(schema)  # FastAPI's default 422 body is not what we send
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    for method, path, operation in _operations(schema):
        answers = operation["responses"]
        has_input = bool(operation.get("parameters") or operation.get("requestBody"))
        secured = bool(operation.get("security"))
        expected = {"422"} if has_input else set()
        expected |= {"401"} if secured else set()
        expected |= {"413"} if operation.get("requestBody") else set()
        expected |= {"404"} if "{" in path else set()
        expected |= {"503"} if path.startswith("/api/") else set()
        assert expected <= set(answers), (method, path, sorted(answers))
        for status in expected:
            body = answers[status]["content"]["application/json"]["schema"]
            assert body == error_ref, (method, path, status)


async def test_framework_errors_have_the_error_body(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client)
    missing = await client.get("/api/v1/nothing/here")
    assert (missing.status_code, set(missing.json())) == (404, {"message", "field", "detail"})
    wrong = await client.request("PUT", "/api/v1/tasks/some-id", headers=headers)
    assert wrong.status_code == 405
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE"}
    garbled = await client.post(
        "/api/v1/tasks", content=b"\xff\xfe{", headers=headers | {"Content-Type": "application/json"}
    )
    assert (garbled.status_code, garbled.json()["field"]) == (422, None)


async def test_a_declared_length_over_the_limit_is_refused_unread(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await sign_up(client)
    limit = runtime.settings.max_request_bytes
    big = await client.post(
        "/api/v1/tasks", content=b"x" * (limit + 1), headers=headers | {"Content-Type": "application/json"}
    )
    assert big.status_code == 413
    assert big.headers["connection"] == "close"
    assert set(big.json()) == {"message", "field", "detail"} and str(limit) in big.json()["message"]


async def test_a_streamed_body_is_cut_at_the_limit(client: httpx.AsyncClient, runtime: Runtime) -> None:
    headers = await sign_up(client)
    limit = runtime.settings.max_request_bytes
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked framing
        yield b'{"title": "'
        for _ in range(64):
            sent.append(1)
            yield b"x" * 65536

    answer = await client.post(
        "/api/v1/tasks", content=chunks(), headers=headers | {"Content-Type": "application/json"}
    )
    assert answer.status_code == 413, answer.text
    assert answer.headers["connection"] == "close" and set(answer.json()) == {"message", "field", "detail"}
    assert len(sent) * 65536 < limit + 2 * 65536  # reading stopped right after the limit


async def test_metrics_behind_a_token(runtime: Runtime) -> None:
    runtime.settings.metrics_token = SecretStr("scrape-me-please")
    async with _client(runtime) as http:
        assert (await http.get("/metrics")).status_code == 401
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert (wrong.status_code, wrong.headers["www-authenticate"]) == (401, "Bearer")
        ok = await http.get("/metrics", headers={"Authorization": "Bearer scrape-me-please"})
        assert ok.status_code == 200 and "taskstream_" in ok.text
        schema = (await http.get("/openapi.json")).json()
        assert schema["paths"]["/metrics"]["get"]["security"] == [{"metricsToken": []}]


async def test_metrics_on_a_port_of_their_own_are_not_on_the_api_port(runtime: Runtime) -> None:
    runtime.settings.metrics_port = 9
    async with _client(runtime) as http:
        assert (await http.get("/metrics")).status_code == 404
        assert "/metrics" not in (await http.get("/openapi.json")).json()["paths"]


async def test_text_is_kept_in_nfc_and_tags_compare_after_it(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client)
    decomposed, composed = "Cafe\u0301", "Caf\u00e9"
    body = {"title": f"{decomposed} run", "description": decomposed, "tags": [decomposed, composed]}
    created = (await client.post("/api/v1/tasks", json=body, headers=headers)).json()
    assert created["title"] == f"{composed} run"
    assert created["description"] == composed
    assert created["tags"] == ["caf\u00e9"]  # one tag: the two spellings are the same after NFC
    for spelling in (decomposed, composed):
        found = await client.get("/api/v1/tasks", params={"tag": spelling}, headers=headers)
        assert [t["id"] for t in found.json()["items"]] == [created["id"]], spelling
    # 500 composed characters fit, even when they arrive decomposed (1000 code points).
    long = await client.post("/api/v1/tasks", json={"title": "e\u0301" * 500}, headers=headers)
    assert long.status_code == 201, long.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "a\u0085b"),  # C1 control (NEL)
        ("title", "a\u2062b"),  # invisible times
        ("description", "x\u180ey"),  # Mongolian vowel separator
        ("tags", ["a\u200bb"]),  # zero-width space
        ("tags", ["a\x00"]),
        ("tags", ["\u0089"]),
    ],
)
async def test_control_and_invisible_characters_are_refused(
    client: httpx.AsyncClient, field: str, value: object
) -> None:
    headers = await sign_up(client)
    body = {"title": "ok", field: value}
    refused = await client.post("/api/v1/tasks", json=body, headers=headers)
    assert (refused.status_code, refused.json()["field"]) == (422, field), refused.text
    search = await client.get("/api/v1/tasks", params={"tag": "a\x00"}, headers=headers)
    assert (search.status_code, search.json()["field"]) == (422, "tag")
