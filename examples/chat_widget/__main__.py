"""`python -m examples.chat_widget`: the example adapter on $PORT (8200), configured from the environment."""

from __future__ import annotations

import os

import uvicorn

from examples.chat_widget.app import Config, create_app


def main() -> None:
    config = Config(
        intake_url=os.environ["SWITCHBOARD_INTAKE_URL"].rstrip("/"),
        adapter_key=os.environ["CHAT_WIDGET_ADAPTER_KEY"],
        webhook_secrets=tuple(os.environ["CHAT_WIDGET_WEBHOOK_SECRETS"].split()),
    )
    uvicorn.run(create_app(config), host="127.0.0.1", port=int(os.environ.get("PORT", "8200")))


if __name__ == "__main__":
    main()
