"""Rate limiting: GCRA budgets per IP, user or API key, in memory or in Redis."""

from bastion.security.ratelimit.backend import BackendUnavailable, RateLimitBackend
from bastion.security.ratelimit.keys import KeyFunction, by_header, by_ip
from bastion.security.ratelimit.memory import MemoryBackend
from bastion.security.ratelimit.middleware import RateLimit
from bastion.security.ratelimit.rate import Decision, Rate
from bastion.security.ratelimit.redis_backend import RedisBackend

__all__ = [
    "BackendUnavailable",
    "Decision",
    "KeyFunction",
    "MemoryBackend",
    "Rate",
    "RateLimit",
    "RateLimitBackend",
    "RedisBackend",
    "by_header",
    "by_ip",
]
