"""The ASGI app: web UI, API v2 and v1.1, the agent API, git hooks, /status."""
