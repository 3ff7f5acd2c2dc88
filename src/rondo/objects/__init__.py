"""Object storage: a local folder by default or any S3-compatible service, behind one interface."""

from rondo.objects.local import LocalObjectStore
from rondo.objects.s3 import S3ObjectStore, S3Settings
from rondo.objects.store import (
    ObjectKeyError,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    ObjectTooLarge,
    PresignedRequest,
    SignatureError,
    check_key,
)

__all__ = [
    "LocalObjectStore",
    "ObjectKeyError",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStoreError",
    "ObjectTooLarge",
    "PresignedRequest",
    "S3ObjectStore",
    "S3Settings",
    "SignatureError",
    "check_key",
]
