"""The ceiling of benchmark 1: the same web stack (FastAPI on uvicorn, same server settings) with no work.

`python -m bench.ceiling_app --port P --samples FILE` serves, from its own process:
  GET  /task   → the sample task object (like GET /tasks/{id})
  POST /task   → the sample task object (the body is parsed as JSON, as the real create parses its body)
  POST /done   → the sample task object (no body, like POST /tasks/{id}/complete)
  GET  /page   → the sample list page (50 task objects)
FILE is a JSON file {"task": {...}, "page": {...}} captured from the real server in the same run, so the
responses have the same size as the real ones.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import Body, FastAPI


def build_app(samples: dict[str, Any]) -> FastAPI:
    """A FastAPI app returning the captured objects; /readyz for the start-up probe."""
    app = FastAPI(title="ceiling", docs_url=None, redoc_url=None)
    task, page = samples["task"], samples["page"]

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/task")
    async def read() -> dict[str, Any]:
        return task

    @app.post("/task", status_code=201)
    async def create(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        return task

    @app.post("/done")
    async def done() -> dict[str, Any]:
        return task

    @app.get("/page")
    async def listing() -> dict[str, Any]:
        return page

    return app


def main() -> None:
    """Parse the arguments and serve with the settings `taskstream up` uses (see cli/main.py)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--samples", type=Path, required=True)
    args = parser.parse_args()
    samples = json.loads(args.samples.read_text())
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(samples),
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            ws_ping_interval=20,
            lifespan="on",
        )
    )
    asyncio.run(server.serve())


if __name__ == "__main__":
    main()
