"""Rondo: a self-hosted CI/CD server that runs CircleCI configs on machines you own."""

__version__ = "0.1.0"
