"""No secret reaches the log or /metrics: the real server runs with known secrets in its settings and debug
logging while every error path a client can reach is provoked; then its whole log is searched."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import websockets

from tests.e2e.server import Server

SECRETS = {
    "TASKSTREAM_JWT_SECRET": "jwt-key-4f1c9e7a2b6d8053e1a7c4b9f2d6e8a1",
    "TASKSTREAM_METRICS_TOKEN": "metrics-token-8d2f6a1c4e9b7035",
    "TASKSTREAM_DAPR_API_TOKEN": "dapr-api-token-1e7c3a9f5b2d8046",
    "TASKSTREAM_DAPR_APP_TOKEN": "dapr-app-token-6b4e2c8a1f9d7053",
    "TASKSTREAM_KAFKA_SASL_PASSWORD": "sasl-password-3a9e5c1f7b2d4086",
}
PASSWORD, NEW_PASSWORD = "first secret phrase 71", "second secret phrase 93"


async def _provoke_every_error(server: Server) -> list[str]:
    """Drive each error a client can cause; returns the tokens handed out (they must not be logged)."""
    seen: list[str] = []
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        weak = await http.post(
            "/api/v1/auth/register", json={"email": "a@example.com", "password": "password"}
        )
        assert weak.status_code == 422
        r = await http.post("/api/v1/auth/register", json={"email": "a@example.com", "password": PASSWORD})
        assert r.status_code == 201
        taken = await http.post(
            "/api/v1/auth/register", json={"email": "a@example.com", "password": PASSWORD}
        )
        assert taken.status_code == 409
        for _ in range(11):  # wrong passwords, then 429
            r = await http.post(
                "/api/v1/auth/token", data={"username": "b@example.com", "password": PASSWORD}
            )
        assert r.status_code == 429
        tokens = (
            await http.post("/api/v1/auth/token", data={"username": "a@example.com", "password": PASSWORD})
        ).json()
        seen += [tokens["access_token"], tokens["refresh_token"]]
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        rotated = (
            await http.post(
                "/api/v1/auth/token",
                data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            )
        ).json()
        seen += [rotated["access_token"], rotated["refresh_token"]]
        reuse = await http.post(
            "/api/v1/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        )
        assert reuse.status_code == 401  # and the session is signed out
        assert (await http.get("/api/v1/me", headers=bearer)).status_code == 401
        tokens = (
            await http.post("/api/v1/auth/token", data={"username": "a@example.com", "password": PASSWORD})
        ).json()
        seen += [tokens["access_token"], tokens["refresh_token"]]
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        forged = tokens["access_token"][:-4] + "AAAA"
        assert (
            await http.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"})
        ).status_code == 401
        assert (await http.post("/api/v1/tasks", headers=bearer, content=b"{nope")).status_code == 422
        assert (await http.post("/api/v1/tasks", headers=bearer, json={"title": ""})).status_code == 422
        assert (await http.get("/api/v1/tasks/nope", headers=bearer)).status_code == 404
        task = (await http.post("/api/v1/tasks", headers=bearer, json={"title": "t"})).json()
        stale = {**bearer, "If-Match": '"99"'}
        assert (
            await http.patch(f"/api/v1/tasks/{task['id']}", headers=stale, json={"title": "u"})
        ).status_code == 412
        assert (await http.post("/api/v1/tasks", headers=bearer, content=b"x" * 2_000_000)).status_code == 413
        assert (
            await http.get("/api/v1/audit?before_id=9223372036854775808", headers=bearer)
        ).status_code == 422
        assert (await http.get("/metrics")).status_code == 401
        metrics = await http.get(
            "/metrics", headers={"Authorization": f"Bearer {SECRETS['TASKSTREAM_METRICS_TOKEN']}"}
        )
        assert metrics.status_code == 200
        for ws_token in (forged, tokens["access_token"]):
            async with websockets.connect(f"ws://127.0.0.1:{server.port}/api/v1/ws?token={ws_token}") as ws:
                await asyncio.wait_for(ws.recv(), 10)
        change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        assert (await http.post("/api/v1/me/password", headers=bearer, json=change)).status_code == 204
        wrong = await http.request("DELETE", "/api/v1/me", headers=bearer, json={"password": PASSWORD})
        assert wrong.status_code == 401
        assert (await http.post("/api/v1/auth/logout", headers=bearer)).status_code == 204
    return [*seen, metrics.text]


async def test_no_secret_in_the_log_of_a_run_that_provoked_every_error(tmp_path: Path) -> None:
    env = SECRETS | {"TASKSTREAM_LOG_LEVEL": "DEBUG"}
    server = Server(tmp_path, env=env)
    server.start()
    try:
        *tokens, metrics = await _provoke_every_error(server)
    finally:
        server.stop()
    log = server.log.read_text()
    assert "services started" in log and "services stopped" in log, "the log holds the whole run"
    for name, value in [*SECRETS.items(), ("password", PASSWORD), ("new password", NEW_PASSWORD)]:
        assert value not in log, f"{name} is in the log"
        assert value not in metrics, f"{name} is in /metrics"
    for token in tokens:  # nor its secret part: a JWT's signature, a refresh token's secret
        assert token.rsplit(".", 1)[-1] not in log, "a token is in the log"
