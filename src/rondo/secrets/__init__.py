"""Secrets: the server's signing key, token hashing; later envelope encryption and masking."""
