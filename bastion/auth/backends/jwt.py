"""Bearer tokens (JWT, PyJWT): signed, expiring, with key rotation by ``kid``.

Every token must carry ``exp`` and ``sub``; ``nbf``, ``iat``, ``iss`` and ``aud`` are
checked when present or configured. Each key names its algorithm, and a token is only ever
verified with the algorithm of the key its ``kid`` names: no ``alg=none``, no RS256/HS256
confusion.

    tokens = JWTAuth(secret=SECRET, scheme="Token")      # Authorization: Token <jwt>
    token = tokens.encode({"sub": str(user.id)})
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt

from bastion.auth.identity import Identity
from bastion.exceptions import ConfigurationError, Unauthorized

if TYPE_CHECKING:
    from bastion.app import App
    from bastion.http.connection import HTTPConnection

ALGORITHMS = frozenset(
    f"{family}{bits}" for family in ("HS", "RS", "PS", "ES") for bits in (256, 384, 512)
) | {"EdDSA"}
#: Anything longer is refused unread (a token is a few hundred bytes).
MAX_TOKEN_LENGTH = 8192
_MIN_HMAC_BYTES = 32
#: Header texts whose key ``JWTAuth`` keeps: one per key and algorithm in practice.
_KNOWN_HEADERS = 64
#: Verified tokens ``JWTAuth`` remembers (a few hundred bytes each): the active clients'.
_KNOWN_TOKENS = 4096


@dataclass(frozen=True)
class JWTKey:
    """One key of a key set. For HMAC ``key`` is the shared secret; for RSA/EC/EdDSA it is
    the public key, and ``private_key`` (only on the issuing side) signs."""

    kid: str
    key: str | bytes
    algorithm: str = "HS256"
    private_key: str | bytes | None = None

    def signing_key(self) -> str | bytes | None:
        return self.key if self.algorithm.startswith("HS") else self.private_key


class JWTAuth:
    """``JWTAuth(secret=...)`` or ``JWTAuth(keys=[JWTKey("2025-06", new), JWTKey("2025-01",
    old)])``: the first key signs, all verify (rotate by adding a key in front, and drop the
    old one once its tokens have expired). With neither, the key is derived from
    ``settings.secret_key`` at start-up."""

    name = "jwt"

    def __init__(
        self,
        secret: str | bytes | None = None,
        *,
        keys: Sequence[JWTKey] = (),
        scheme: str = "Bearer",
        issuer: str | None = None,
        audience: str | None = None,
        expires_in: datetime.timedelta = datetime.timedelta(hours=1),
        leeway: datetime.timedelta = datetime.timedelta(seconds=30),
    ) -> None:
        if secret is not None and keys:
            raise ConfigurationError("JWTAuth takes secret= or keys=, not both")
        if not scheme.isalnum():
            raise ConfigurationError(f"JWTAuth(scheme={scheme!r}): use a word like Bearer or Token")
        self.scheme_word = scheme
        self.issuer = issuer
        self.audience = audience
        self.expires_in = expires_in
        self.leeway = leeway
        self._keys: dict[str, JWTKey] = {}
        #: The key each header text seen names (``_key_for``).
        self._header_keys: dict[str, JWTKey] = {}
        #: Verified tokens: their expiry and claims (``_remember``).
        self._verified: dict[str, tuple[float, dict[str, Any]]] = {}
        self._signing: JWTKey | None = None
        self._single = False
        if secret is not None:
            self._use([JWTKey("", secret)], single=True)
        elif keys:
            self._use(keys, single=False)

    def _use(self, keys: Sequence[JWTKey], *, single: bool) -> None:
        for key in keys:
            _check_key(key)
        kids = [k.kid for k in keys]
        if len(set(kids)) != len(kids):
            raise ConfigurationError(f"JWTAuth keys: every kid must be unique, got {kids}")
        self._keys = {k.kid: k for k in keys}
        self._header_keys = {}
        self._verified = {}
        self._signing = keys[0]
        self._single = single

    def setup(self, app: App[Any]) -> None:
        if self._keys:
            return
        secret = app.settings.secret_key
        if not secret:
            raise ConfigurationError(
                "JWTAuth needs a key: pass JWTAuth(secret=...) (32+ random bytes) or "
                "keys=[JWTKey(...)], or set BASTION_SECRET_KEY to derive one from"
            )
        derived = hmac.new(secret.encode(), b"bastion.auth.jwt", hashlib.sha256).hexdigest()
        self._use([JWTKey("", derived)], single=True)

    # -- issuing -----------------------------------------------------------------------------
    def encode(
        self, claims: Mapping[str, Any], *, expires_in: datetime.timedelta | None = None
    ) -> str:
        """A signed token: ``claims`` (``sub`` required) plus ``iat``, ``exp`` and the
        configured ``iss``/``aud``."""
        key = self._signing
        if key is None:
            raise ConfigurationError(
                "JWTAuth has no key yet: pass secret= or keys=, or encode after the app started"
            )
        signing = key.signing_key()
        if signing is None:
            raise ConfigurationError(
                f"JWTAuth key {key.kid!r} has no private_key, so it can only verify"
            )
        if "sub" not in claims:
            raise ValueError("JWTAuth.encode: the claims need a 'sub' (the user id, as text)")
        now = datetime.datetime.now(datetime.UTC)
        payload: dict[str, Any] = {"iat": now, "exp": now + (expires_in or self.expires_in)}
        if self.issuer is not None:
            payload["iss"] = self.issuer
        if self.audience is not None:
            payload["aud"] = self.audience
        payload.update(claims)
        headers = None if self._single else {"kid": key.kid}
        return jwt.encode(payload, signing, algorithm=key.algorithm, headers=headers)

    # -- verifying ---------------------------------------------------------------------------
    def decode(self, token: str) -> dict[str, Any]:
        """The verified claims, or ``Unauthorized`` saying what is wrong with the token."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise self._invalid("The token is too long")
        known = self._verified.get(token)
        if known is not None and known[0] > time.time() - self.leeway.total_seconds():
            return dict(known[1])  # a copy: the caller may change its claims
        key = self._key_for(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options={"require": ["exp", "sub"], "verify_iss": self.issuer is not None},
            )
        except jwt.ExpiredSignatureError:
            raise self._invalid("The token has expired") from None
        except jwt.ImmatureSignatureError:
            raise self._invalid("The token is not valid yet") from None
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError) as exc:
            raise self._invalid(f"The token is not for this service ({exc})") from None
        except (jwt.PyJWTError, ValueError, UnicodeError):
            raise self._invalid("The token is invalid") from None
        if not isinstance(claims.get("sub"), str):
            raise self._invalid("The token's subject (sub) must be a string")
        self._remember(token, claims)
        return claims

    def _remember(self, token: str, claims: dict[str, Any]) -> None:
        """Keep a verified token's claims until it expires: a client sends the same token
        with every request for its whole life, and verifying it again (base64, JSON, HMAC)
        costs more than most handlers. Only ``exp`` changes what a later check would say
        (``nbf`` was passed and time moves on); a new key set forgets them all (``_use``)."""
        expires = claims["exp"]
        if not isinstance(expires, int | float):
            return
        verified = self._verified
        if len(verified) >= _KNOWN_TOKENS:
            del verified[next(iter(verified))]  # the oldest
        verified[token] = (float(expires), dict(claims))

    def _key_for(self, token: str) -> JWTKey:
        """The key the token's header names. Every token one key signs carries the same
        header, so its answer is kept by the header's text (a few entries, one per key):
        the header is then read once per key, not once per request before ``jwt.decode``
        reads the whole token again."""
        segment = token.partition(".")[0]
        key = self._header_keys.get(segment)
        if key is not None:
            return key
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError, UnicodeError):
            raise self._invalid("The token is malformed") from None
        kid = header.get("kid")
        if self._single:
            # A single secret signs without a kid: a token naming one was not made here.
            key = self._signing if kid is None else None
        else:
            key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise self._invalid("The token is signed with an unknown key")
        if len(self._header_keys) >= _KNOWN_HEADERS:  # headers made elsewhere with our kid
            self._header_keys.clear()
        self._header_keys[segment] = key
        return key

    async def authenticate(self, connection: HTTPConnection) -> Identity | None:
        header = connection.headers.get("authorization")
        if header is None:
            return None
        word, _, token = header.strip().partition(" ")
        if word.lower() != self.scheme_word.lower():
            return None
        claims = self.decode(token.strip())
        scope = claims.get("scope", claims.get("scopes"))
        scopes = _names(scope) if scope is not None else None
        roles = _names(claims.get("roles", ()))
        return Identity(claims["sub"], self.name, scopes, roles, claims)

    def challenge(self) -> str:
        return self.scheme_word

    def scheme(self) -> dict[str, Any]:
        if self.scheme_word.lower() == "bearer":
            return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": f"`Authorization: {self.scheme_word} <JWT>`",
        }

    def _invalid(self, detail: str) -> Unauthorized:
        challenge = f'{self.scheme_word} error="invalid_token"'
        return Unauthorized(detail, headers={"www-authenticate": challenge})


def _check_key(key: JWTKey) -> None:
    if key.algorithm not in ALGORITHMS:
        raise ConfigurationError(
            f"JWTKey {key.kid!r}: algorithm {key.algorithm!r} is not allowed; use one of "
            f"{', '.join(sorted(ALGORITHMS))} (never 'none')"
        )
    if key.algorithm not in jwt.algorithms.get_default_algorithms():
        raise ConfigurationError(
            f"JWTKey {key.kid!r}: {key.algorithm} needs the cryptography package: "
            "pip install cryptography (or use HS256)"
        )
    if key.algorithm.startswith("HS"):
        size = len(key.key.encode() if isinstance(key.key, str) else key.key)
        if size < _MIN_HMAC_BYTES:
            raise ConfigurationError(
                f"JWTKey {key.kid!r}: an HMAC secret needs at least {_MIN_HMAC_BYTES} bytes "
                f"(got {size}); generate one with `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`"
            )
        if key.private_key is not None:
            raise ConfigurationError(f"JWTKey {key.kid!r}: HMAC keys take no private_key")


def _names(value: Any) -> frozenset[str]:
    """A ``scope`` claim is space-separated text (RFC 8693) or a list."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list | tuple):
        return frozenset(str(v) for v in value)
    return frozenset()
