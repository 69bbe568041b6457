"""Serves either builder's API or a trivial FastAPI app, the same way, for bench/api_latency.py.

Both run under one uvicorn server in this process with the same configuration (one
worker, log_config=None as builder's `uvicorn_server` sets), so the only difference the
benchmark sees is the application.

    python bench/_api_server.py --app builder --port 8000   # settings from BUILDER_* env
    python bench/_api_server.py --app ping --port 8001
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def ping_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--app", choices=["builder", "ping"], required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if args.app == "builder":
        from builder.api_server import uvicorn_server
        from builder.settings import Settings

        uvicorn_server(Settings(), "127.0.0.1", args.port).run()
    else:
        uvicorn.Server(
            uvicorn.Config(
                ping_app(),
                host="127.0.0.1",
                port=args.port,
                log_config=None,
                proxy_headers=True,
                timeout_graceful_shutdown=5,
            )
        ).run()


if __name__ == "__main__":
    main()
