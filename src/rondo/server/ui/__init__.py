"""The web UI: server-rendered pages (Jinja2)."""
