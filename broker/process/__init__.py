"""What starts and runs the broker process: the CLI, multi-worker serving, the ASGI factory."""
