"""The Discretion broker service. Build it with `broker.api.create_app(settings)`."""
