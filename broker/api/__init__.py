"""HTTP layer: thin routes over the services. Build the app with `create_app(settings)`."""

from broker.api.app import create_app

__all__ = ["create_app"]
