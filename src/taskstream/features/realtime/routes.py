"""WebSocket /api/v1/ws: authenticate with the token, then receive the user's CloudEvents as JSON text."""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from taskstream.api.deps import ApiContext
from taskstream.domain.errors import Unauthorized

router = APIRouter()

AUTH_TIMEOUT_S = 10.0


@router.websocket("/ws")
async def updates(websocket: WebSocket) -> None:
    """Token from `?token=` or a first message {"type": "auth", "token": …}; then server pushes only."""
    ctx: ApiContext = websocket.app.state.ctx
    assert ctx.hub is not None, "this process does not serve WebSockets"
    await websocket.accept()
    token = websocket.query_params.get("token")
    try:
        if not token:
            first = json.loads(await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT_S))
            if not isinstance(first, dict) or first.get("type") != "auth":
                raise Unauthorized('the first message must be {"type": "auth", "token": …}')
            token = str(first.get("token", ""))
        user_id = ctx.tokens.user_id(token, now=ctx.clock.now())
    except (Unauthorized, TimeoutError, ValueError, WebSocketDisconnect) as error:
        message = error.message if isinstance(error, Unauthorized) else "authentication required"
        try:
            await websocket.send_json({"type": "error", "message": message})
            await websocket.close(code=4401, reason="unauthorized")
        except (RuntimeError, WebSocketDisconnect):
            pass
        return
    ctx.hub.add(user_id, websocket)
    try:
        await websocket.send_json({"type": "ready", "user_id": user_id})
        while True:
            text = await websocket.receive_text()
            if text == "ping" or '"ping"' in text:
                await websocket.send_json({"type": "pong"})
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        ctx.hub.remove(user_id, websocket)
