"""File storage: a ``Storage`` interface with a local-disk and an S3-compatible backend
(obstore), streaming uploads under size and sniffed-type limits, signed download URLs."""

from bastion.storage._limits import Limits
from bastion.storage._sniff import sniff
from bastion.storage.base import Storage, StoredFile
from bastion.storage.local import LocalStorage
from bastion.storage.plugin import StoragePlugin, storage_from_settings
from bastion.storage.s3 import S3Storage

__all__ = [
    "Limits",
    "LocalStorage",
    "S3Storage",
    "Storage",
    "StoragePlugin",
    "StoredFile",
    "sniff",
    "storage_from_settings",
]
