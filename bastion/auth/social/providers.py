"""Identity providers: any OpenID Connect provider by its issuer (discovery, JWKS, ID-token
validation), Google (an OIDC preset) and GitHub (plain OAuth 2.0 and its REST API).

A provider builds the authorization URL (code flow, PKCE S256, ``state``, and ``nonce`` for
OIDC) and turns the returned code into a ``SocialProfile``; ``SocialRoutes`` keeps the flow's
secrets in the session and decides what the profile means for the app's accounts. Every
refusal is a ``SocialError`` with a ``reason`` and a sentence for the user.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx
from authlib.oauth2.auth import ClientAuth  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.parameters import (  # type: ignore[import-untyped]
    prepare_token_request,
)
from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from bastion.exceptions import ConfigurationError

#: Seconds of clock difference tolerated on ``exp``/``iat``, and how long discovery and
#: JWKS answers are kept before being fetched again.
LEEWAY = 60
METADATA_TTL = 3600.0


@dataclass(frozen=True)
class SocialProfile:
    """Who the provider says signed in: a stable ``subject`` (never the e-mail), the e-mail
    and whether the provider verified it, a display name, and every claim it sent."""

    provider: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    claims: Mapping[str, Any] = field(default_factory=dict)


class SocialError(Exception):
    """A refused sign-in: ``reason`` (``state``, ``nonce``, ``id_token``, ``code``,
    ``provider``, ``unreachable``...) for programs, ``detail`` for people."""

    def __init__(self, reason: str, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.status = reason, detail, status


def code_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def bearer(token: Mapping[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {token['access_token']}"}


class Provider:
    """What ``SocialRoutes`` needs from a provider. Subclasses set the endpoints."""

    #: Whether the flow carries a ``nonce`` and an ID token (OpenID Connect).
    openid: ClassVar[bool] = False
    token_endpoint_auth_method: str = "client_secret_basic"

    def __init__(self, *, client_id: str, client_secret: str, scope: str, timeout: float) -> None:
        if not client_id or not client_secret:
            raise ConfigurationError(
                f"{type(self).__name__} needs client_id= and client_secret=: register the app "
                "with the provider and copy its credentials (BASTION_SOCIAL_CREDENTIALS)"
            )
        self.client_id, self.client_secret, self.scope = client_id, client_secret, scope
        self.timeout = timeout
        self.name = ""  # set by SocialRoutes: the key it was installed under

    async def authorization_endpoint(self) -> str:
        raise NotImplementedError

    async def authorization_url(
        self, redirect_uri: str, state: str, nonce: str, verifier: str, **extra: str
    ) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.scope,
            "state": state,
            "code_challenge": code_challenge(verifier),
            "code_challenge_method": "S256",
            **({"nonce": nonce} if self.openid else {}),
            **extra,
        }
        endpoint = await self.authorization_endpoint()
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"

    async def profile(
        self, code: str, redirect_uri: str, verifier: str, nonce: str
    ) -> SocialProfile:
        raise NotImplementedError

    def client(self) -> httpx.AsyncClient:
        """An HTTP client for one sign-in's calls to the provider."""
        return httpx.AsyncClient(timeout=self.timeout, headers={"accept": "application/json"})

    async def exchange(
        self,
        client: httpx.AsyncClient,
        token_endpoint: str,
        code: str,
        redirect_uri: str,
        verifier: str,
    ) -> dict[str, Any]:
        """The token endpoint's answer to the code and the PKCE verifier (RFC 6749 4.1.3,
        RFC 7636 4.5), with the client authenticated as the provider asks."""
        body = prepare_token_request(
            "authorization_code", code=code, redirect_uri=redirect_uri, code_verifier=verifier
        )
        auth = ClientAuth(self.client_id, self.client_secret, self.token_endpoint_auth_method)
        headers = {"content-type": "application/x-www-form-urlencoded"}
        url, headers, body = auth.prepare("POST", token_endpoint, headers, body)
        try:
            response = await client.post(url, content=body, headers=headers)
            token = response.json()
        except httpx.HTTPError:
            raise self.unreachable() from None
        except ValueError:
            raise SocialError(
                "provider", f"{self.name}'s token endpoint did not answer JSON; sign in again", 502
            ) from None
        if not isinstance(token, dict):
            raise SocialError("provider", f"{self.name}'s token endpoint answered nonsense", 502)
        if "error" in token or not response.is_success:
            raise SocialError(
                "code",
                f"{self.name} refused the authorization code ({str(token.get('error'))[:64]}): "
                "it was already used, has expired or was not issued to this sign-in; sign in "
                "again",
            )
        if not isinstance(token.get("access_token"), str):
            raise SocialError("provider", f"{self.name} sent no access token; sign in again", 502)
        return token

    def unreachable(self) -> SocialError:
        return SocialError(
            "unreachable", f"{self.name} could not be reached; try again in a minute", 503
        )


class OIDCProvider(Provider):
    """Any OpenID Connect provider, configured from ``{issuer}/.well-known/openid-configuration``.

    The ID token must be signed (``none`` and HMAC refused) by a key of the provider's JWKS
    (fetched again once when a ``kid`` is new: key rotation), name the discovered issuer and
    this client in ``aud`` (``azp`` when there are several audiences), be current (``exp``,
    ``iat``) and carry the nonce of this sign-in; userinfo, when fetched, must be about the
    same ``sub``.
    """

    openid = True

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        scope: str = "openid email profile",
        timeout: float = 10.0,
    ) -> None:
        super().__init__(
            client_id=client_id, client_secret=client_secret, scope=scope, timeout=timeout
        )
        if not issuer.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ConfigurationError(
                f"OIDCProvider(issuer={issuer!r}): the issuer must be an https:// URL "
                "(http:// only for 127.0.0.1 and localhost, in development)"
            )
        if "openid" not in scope.split():
            raise ConfigurationError(
                f"OIDCProvider(scope={scope!r}): the scope must include openid"
            )
        self.issuer = issuer.rstrip("/")
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: KeySet | None = None
        self._jwks_at = 0.0

    async def metadata(self) -> dict[str, Any]:
        """The discovery document, checked once per fetch and kept for an hour."""
        if self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_TTL:
            return self._metadata
        document = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
        if document.get("issuer") != self.issuer:  # OpenID Connect Discovery 4.3
            raise SocialError(
                "provider",
                f"{self.name}'s discovery document names another issuer; the app's "
                "configuration must be fixed before anyone can sign in with it",
                502,
            )
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(key), str):
                raise SocialError("provider", f"{self.name}'s discovery document lacks {key}", 502)
        methods = document.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
        if "client_secret_basic" not in methods and "client_secret_post" in methods:
            self.token_endpoint_auth_method = "client_secret_post"
        self._metadata, self._metadata_at = document, time.monotonic()
        return document

    async def authorization_endpoint(self) -> str:
        return str((await self.metadata())["authorization_endpoint"])

    async def keys(self, *, refresh: bool = False) -> KeySet:
        fresh = time.monotonic() - self._jwks_at < (10.0 if refresh else METADATA_TTL)
        if self._jwks is not None and fresh:
            return self._jwks
        document = await self._get_json((await self.metadata())["jwks_uri"])
        try:
            self._jwks = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            raise SocialError(
                "provider", f"{self.name} published an unreadable JWKS", 502
            ) from None
        self._jwks_at = time.monotonic()
        return self._jwks

    async def profile(
        self, code: str, redirect_uri: str, verifier: str, nonce: str
    ) -> SocialProfile:
        metadata = await self.metadata()
        async with self.client() as client:
            token = await self.exchange(
                client, metadata["token_endpoint"], code, redirect_uri, verifier
            )
            claims = await self.validate_id_token(
                token.get("id_token"), nonce, token["access_token"]
            )
            userinfo: dict[str, Any] = {}
            if isinstance(metadata.get("userinfo_endpoint"), str):
                try:
                    response = await client.get(
                        metadata["userinfo_endpoint"], headers=bearer(token)
                    )
                    response.raise_for_status()
                    userinfo = response.json()
                except httpx.HTTPError:
                    raise self.unreachable() from None
                except ValueError:
                    userinfo = {}
        if userinfo.get("sub") != claims["sub"]:  # OpenID Connect Core 5.3.2
            userinfo = {}
        merged = {**userinfo, **claims}
        email = merged.get("email")
        return SocialProfile(
            provider=self.name,
            subject=str(claims["sub"]),
            email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
            email_verified=merged.get("email_verified") is True,
            name=merged.get("name") if isinstance(merged.get("name"), str) else None,
            claims=merged,
        )

    async def validate_id_token(
        self, id_token: object, nonce: str, access_token: str
    ) -> dict[str, Any]:
        """The ID token's claims once signature, iss, aud/azp, exp/iat, nonce and at_hash
        all hold; otherwise a ``SocialError`` naming the check that failed."""
        if not isinstance(id_token, str):
            raise SocialError("id_token", f"{self.name} sent no ID token; sign in again")
        metadata = await self.metadata()
        algorithms = [
            a
            for a in metadata.get("id_token_signing_alg_values_supported", ["RS256"])
            if isinstance(a, str) and a != "none" and not a.startswith("HS")
        ] or ["RS256"]
        try:
            try:
                decoded = jwt.decode(id_token, await self.keys(), algorithms=algorithms)
            except InvalidKeyIdError:  # the provider rotated its keys: fetch them once more
                decoded = jwt.decode(id_token, await self.keys(refresh=True), algorithms=algorithms)
        except JoseError:
            raise self._invalid("its signature does not verify with the provider's keys") from None
        except (ValueError, TypeError):
            raise self._invalid("it is not a well-formed JWT") from None
        options = {
            "iss": {"essential": True, "value": self.issuer},
            "aud": {"essential": True, "value": self.client_id},
            "sub": {"essential": True},
        }
        params = {"nonce": nonce, "client_id": self.client_id, "access_token": access_token}
        claims = CodeIDToken(decoded.claims, decoded.header, options, params)
        try:
            claims.validate(leeway=LEEWAY)
        except JoseError as error:
            name = getattr(error, "claim", None) or str(error)
            raise self._invalid(f"its {name!s} claim is missing or wrong", name) from None
        if "nonce" not in claims or claims["nonce"] != nonce:
            raise self._invalid("its nonce is not this sign-in's", "nonce")
        return dict(claims)

    def _invalid(self, why: str, claim: str | None = None) -> SocialError:
        reason = "nonce" if claim == "nonce" else "id_token"
        return SocialError(reason, f"{self.name}'s ID token was refused: {why}; sign in again")

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.get(url, headers={"accept": "application/json"})
                response.raise_for_status()
                document = response.json()
        except httpx.HTTPError:
            raise self.unreachable() from None
        except ValueError:
            raise SocialError("provider", f"{self.name} answered {url} with no JSON", 502) from None
        if not isinstance(document, dict):
            raise SocialError("provider", f"{self.name} answered {url} with no JSON object", 502)
        return document


class GoogleProvider(OIDCProvider):
    """Google Sign-In: OpenID Connect at ``https://accounts.google.com``."""

    def __init__(
        self, *, client_id: str, client_secret: str, scope: str = "openid email profile"
    ) -> None:
        super().__init__(
            issuer="https://accounts.google.com",
            client_id=client_id,
            client_secret=client_secret,
            scope=scope,
        )


class GitHubProvider(Provider):
    """GitHub (OAuth 2.0, not OpenID Connect): the subject is the numeric user id, the
    e-mail the primary address GitHub marks verified (``/user/emails``, scope user:email).
    ``base_url``/``api_url`` point at GitHub Enterprise Server."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        scope: str = "read:user user:email",
        base_url: str = "https://github.com",
        api_url: str = "https://api.github.com",
        timeout: float = 10.0,
    ) -> None:
        super().__init__(
            client_id=client_id, client_secret=client_secret, scope=scope, timeout=timeout
        )
        self.base_url, self.api_url = base_url.rstrip("/"), api_url.rstrip("/")
        self.token_endpoint_auth_method = "client_secret_post"

    async def authorization_endpoint(self) -> str:
        return f"{self.base_url}/login/oauth/authorize"

    async def profile(
        self, code: str, redirect_uri: str, verifier: str, nonce: str
    ) -> SocialProfile:
        token_endpoint = f"{self.base_url}/login/oauth/access_token"
        async with self.client() as client:
            token = await self.exchange(client, token_endpoint, code, redirect_uri, verifier)
            headers = {**bearer(token), "accept": "application/vnd.github+json"}
            try:
                user = await client.get(f"{self.api_url}/user", headers=headers)
                user.raise_for_status()
                emails = await client.get(f"{self.api_url}/user/emails", headers=headers)
                account, addresses = user.json(), emails.json() if emails.is_success else []
            except httpx.HTTPError:
                raise self.unreachable() from None
            except ValueError:
                raise SocialError(
                    "provider", "GitHub's API did not answer JSON; sign in again", 502
                ) from None
        if not isinstance(account, dict) or not isinstance(account.get("id"), int):
            raise SocialError("provider", "GitHub's API sent no user id; sign in again", 502)
        verified = (
            [
                e
                for e in addresses
                if isinstance(e, dict)
                and e.get("verified") is True
                and isinstance(e.get("email"), str)
            ]
            if isinstance(addresses, list)
            else []
        )
        primary = next((e for e in verified if e.get("primary") is True), None)
        email = primary["email"].strip().lower() if primary is not None else None
        name = account.get("name") or account.get("login")
        return SocialProfile(
            provider=self.name,
            subject=str(account["id"]),
            email=email,
            email_verified=email is not None,
            name=name if isinstance(name, str) else None,
            claims={**account, "emails": addresses},
        )
