"""WebSocket /api/v1/ws: authenticate with the token, then receive the user's CloudEvents as JSON text."""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from taskstream.api.deps import ApiContext, Caller, check_caller
from taskstream.domain.errors import Unauthorized
from taskstream.features.realtime.hub import SIGNED_OUT

router = APIRouter()

AUTH_TIMEOUT_S = 10.0
TOO_MANY = 4429  # close code: the user has too many open sockets


async def _refuse(websocket: WebSocket, message: str, code: int) -> None:
    try:
        await websocket.send_json({"type": "error", "message": message})
        await websocket.close(code=code, reason=message[:100])
    except (RuntimeError, WebSocketDisconnect):
        pass


def _auth_token(text: str) -> str | None:
    """The token of an {"type": "auth", "token": …} message, else None."""
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if isinstance(message, dict) and message.get("type") == "auth":
        return str(message.get("token", ""))
    return None


@router.websocket("/ws")
async def updates(websocket: WebSocket) -> None:
    """Token from `?token=` or a first message {"type": "auth", "token": …}; then server pushes only.

    The socket closes with 4401 when its token expires or its session is signed out; sending a fresh
    token as another auth message (same user) keeps it open past the first token's expiry. 4429 when the
    user already has the most sockets allowed.
    """
    ctx: ApiContext = websocket.app.state.ctx
    assert ctx.hub is not None, "this process does not serve WebSockets"
    await websocket.accept()
    token = websocket.query_params.get("token")
    try:
        if not token:
            token = _auth_token(await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT_S))
            if token is None:
                raise Unauthorized('the first message must be {"type": "auth", "token": …}')
        caller = await check_caller(ctx, token)
    except (Unauthorized, TimeoutError, WebSocketDisconnect) as error:
        message = error.message if isinstance(error, Unauthorized) else "authentication required"
        await _refuse(websocket, message, SIGNED_OUT)
        return
    if not ctx.hub.add(caller.user.id, websocket, session_id=caller.session_id):
        await _refuse(websocket, f"at most {ctx.hub.per_user} open connections per user", TOO_MANY)
        return
    try:
        await websocket.send_json({"type": "ready", "user_id": caller.user.id})
        await _serve(ctx, websocket, caller)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        ctx.hub.remove(caller.user.id, websocket)


async def _serve(ctx: ApiContext, websocket: WebSocket, caller: Caller) -> None:
    """Answer pings and fresh tokens until the client leaves or the token expires (then close 4401)."""
    assert ctx.hub is not None
    while True:
        left = caller.expires - ctx.clock.now().timestamp()
        try:
            text = await asyncio.wait_for(websocket.receive_text(), max(left, 0.001))
        except TimeoutError:
            await _refuse(websocket, "the token has expired; refresh it and reconnect", SIGNED_OUT)
            return
        fresh = _auth_token(text)
        if fresh is not None:
            try:
                renewed = await check_caller(ctx, fresh)
            except Unauthorized as error:
                await _refuse(websocket, error.message, SIGNED_OUT)
                return
            if renewed.user.id != caller.user.id:
                await _refuse(websocket, "a token of another user", SIGNED_OUT)
                return
            caller = renewed
            ctx.hub.renew(caller.user.id, websocket, session_id=caller.session_id)
            await websocket.send_json({"type": "renewed", "expires": caller.expires})
        elif text == "ping" or '"ping"' in text:
            await websocket.send_json({"type": "pong"})
