"""Object storage: a local folder by default, S3-compatible services later, behind one interface."""

from rondo.objects.local import LocalObjectStore
from rondo.objects.store import (
    ObjectKeyError,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    SignatureError,
    check_key,
)

__all__ = [
    "LocalObjectStore",
    "ObjectKeyError",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStoreError",
    "SignatureError",
    "check_key",
]
