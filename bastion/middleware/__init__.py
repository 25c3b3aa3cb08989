"""Middleware: the composition rules and the built-in middleware."""

from bastion.middleware.base import ASGIMiddleware
from bastion.middleware.conditional import ConditionalGet
from bastion.middleware.cors import CORS
from bastion.middleware.gzip import GZip
from bastion.middleware.request_id import RequestId
from bastion.middleware.server_timing import ServerTiming
from bastion.middleware.trusted_host import TrustedHost

__all__ = [
    "CORS",
    "ASGIMiddleware",
    "ConditionalGet",
    "GZip",
    "RequestId",
    "ServerTiming",
    "TrustedHost",
]
