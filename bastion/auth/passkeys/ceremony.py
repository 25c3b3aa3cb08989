"""The WebAuthn ceremonies, on py_webauthn: who the relying party is, challenges that can
be used once, and verification whose every refusal is a 4xx that says what to do next.

A challenge is kept in the session (so only the browser it was given to can answer it) and,
hashed, in ``auth_passkey_challenges``, whose row is deleted by the request that uses it: a
replayed or concurrent second answer finds no row.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    generate_challenge,
    options_to_json_dict,
    parse_client_data_json,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from webauthn.registration.verify_registration_response import VerifiedRegistration

from bastion.auth.passkeys.models import PasskeyChallenge
from bastion.auth.sessions.session import Session
from bastion.config import Settings
from bastion.exceptions import BadRequest, ConfigurationError, HTTPError, Unauthorized

logger = logging.getLogger("bastion.auth.passkeys")
Purpose = Literal["register", "login", "second"]
Verification = Literal["required", "preferred", "discouraged"]
SESSION_KEY = "_passkey_challenge"
_SETTINGS_HINT = (
    "set BASTION_WEBAUTHN_RP_ID to your site's domain (example.com, or localhost in "
    "development) and BASTION_WEBAUTHN_ORIGINS to the origins its pages are served from "
    "(https://example.com, http://localhost:8000), or pass PasskeyRoutes(rp_id=..., "
    "origins=[...])"
)


@dataclass(frozen=True)
class RelyingParty:
    """The site as authenticators see it: ``rp_id`` (a domain, never an IP address or a
    port) and the exact origins whose pages may answer a challenge."""

    rp_id: str
    origins: tuple[str, ...]
    name: str

    @classmethod
    def from_settings(
        cls, settings: Settings, rp_id: str | None, origins: list[str] | None
    ) -> RelyingParty:
        """Checked at start-up: a wrong rp id or origin would refuse every passkey later."""
        rp_id = (rp_id if rp_id is not None else settings.webauthn_rp_id or "").strip().lower()
        chosen = origins if origins is not None else settings.webauthn_origins
        if not rp_id or not chosen:
            missing = "rp id" if not rp_id else "origins"
            raise ConfigurationError(f"PasskeyRoutes: no WebAuthn {missing}; {_SETTINGS_HINT}")
        if "/" in rp_id or ":" in rp_id or rp_id.replace(".", "").isdigit():
            raise ConfigurationError(
                f"PasskeyRoutes: the WebAuthn rp id {rp_id!r} must be a bare domain (no "
                "scheme, port, path or IP address); set BASTION_WEBAUTHN_RP_ID=example.com"
            )
        return cls(rp_id, tuple(_checked_origin(o, rp_id) for o in chosen), settings.app_name)

    def expected_origin(self) -> str | list[str]:
        return self.origins[0] if len(self.origins) == 1 else list(self.origins)


def _checked_origin(origin: str, rp_id: str) -> str:
    parts = urlsplit(origin.strip())
    host = parts.hostname or ""
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and (host == "localhost" or host.endswith(".localhost"))
    )
    if not secure or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigurationError(
            f"PasskeyRoutes: the WebAuthn origin {origin!r} must be scheme://host[:port] over "
            "https (http only for localhost, which browsers count as secure); set "
            "BASTION_WEBAUTHN_ORIGINS=https://example.com"
        )
    if host != rp_id and not host.endswith("." + rp_id):
        raise ConfigurationError(
            f"PasskeyRoutes: the origin {origin!r} is not on the rp id {rp_id!r} (its host must "
            f"be {rp_id} or end with .{rp_id}); fix BASTION_WEBAUTHN_RP_ID or the origin"
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"


class Challenges:
    """Single-use challenges bound to the session they were handed to."""

    def __init__(self, lifetime: int) -> None:
        self.lifetime = lifetime

    async def issue(
        self,
        session: Session,
        db: AsyncSession,
        purpose: Purpose,
        user_id: str | None,
        handle: bytes = b"",
    ) -> bytes:
        """A new challenge for ``purpose``; it replaces any earlier one of the session.
        ``handle`` (the user handle a registration's options carry) comes back from
        ``take``, as the browser does not send it back."""
        challenge = generate_challenge()
        now = int(time.time())
        await db.execute(delete(PasskeyChallenge).where(PasskeyChallenge.expires_at < now))
        db.add(
            PasskeyChallenge(
                digest=hashlib.sha256(challenge).digest(),
                purpose=purpose,
                user_id=user_id,
                expires_at=now + self.lifetime,
            )
        )
        session[SESSION_KEY] = {
            "purpose": purpose,
            "challenge": bytes_to_base64url(challenge),
            "handle": bytes_to_base64url(handle),
        }
        return challenge

    async def take(
        self, session: Session, db: AsyncSession, purpose: Purpose, user_id: str | None
    ) -> tuple[bytes, bytes]:
        """The session's challenge for ``purpose`` (and its handle), spent now; else a 400
        saying to ask for new options (none was given, it was used already, expired, or
        was for another user or ceremony)."""
        kept = session.pop(SESSION_KEY, None)
        challenge, handle = _challenge_of(kept, purpose)
        if challenge is not None:
            spent = await db.execute(
                delete(PasskeyChallenge).where(
                    PasskeyChallenge.digest == hashlib.sha256(challenge).digest(),
                    PasskeyChallenge.purpose == purpose,
                    PasskeyChallenge.expires_at >= int(time.time()),
                    PasskeyChallenge.user_id.is_(None)
                    if user_id is None
                    else PasskeyChallenge.user_id == user_id,
                )
            )
            if getattr(spent, "rowcount", 0) == 1:
                return challenge, handle
        raise refusal(
            BadRequest,
            "challenge",
            "No usable challenge: it was never issued to this session, was used already, "
            f"or has expired. Ask for new options ({purpose} options) and try again",
        )


def _challenge_of(kept: Any, purpose: Purpose) -> tuple[bytes | None, bytes]:
    if not isinstance(kept, dict) or kept.get("purpose") != purpose:
        return None, b""
    text, handle = kept.get("challenge"), kept.get("handle")
    if not isinstance(text, str) or not isinstance(handle, str):
        return None, b""
    try:
        return base64url_to_bytes(text), base64url_to_bytes(handle)
    except ValueError:
        return None, b""


def refusal(kind: type[HTTPError], reason: str, detail: str, **headers: str) -> HTTPError:
    """A problem document with a machine-readable ``reason`` beside the sentence."""
    return kind(detail, headers=headers or None, extra={"reason": reason})


def registration_options(
    party: RelyingParty,
    challenge: bytes,
    *,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    exclude: list[bytes],
    resident_key: ResidentKeyRequirement,
    user_verification: Verification,
    attestation: AttestationConveyancePreference,
    timeout: int,
) -> dict[str, Any]:
    """``PublicKeyCredentialCreationOptions`` as JSON (binary fields in base64url)."""
    options = generate_registration_options(
        rp_id=party.rp_id,
        rp_name=party.name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name,
        challenge=challenge,
        timeout=timeout,
        attestation=attestation,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=resident_key,
            user_verification=UserVerificationRequirement(user_verification),
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=c) for c in exclude],
    )
    return options_to_json_dict(options)


def authentication_options(
    party: RelyingParty,
    challenge: bytes,
    *,
    allow: list[bytes],
    user_verification: Verification,
    timeout: int,
) -> dict[str, Any]:
    """``PublicKeyCredentialRequestOptions`` as JSON; an empty ``allow`` lets the browser
    offer the site's discoverable credentials (password-less sign-in)."""
    options = generate_authentication_options(
        rp_id=party.rp_id,
        challenge=challenge,
        timeout=timeout,
        allow_credentials=[PublicKeyCredentialDescriptor(id=c) for c in allow],
        user_verification=UserVerificationRequirement(user_verification),
    )
    return options_to_json_dict(options)


def credential_id(credential: dict[str, Any]) -> bytes:
    """The ``rawId`` of a credential sent by the browser, or a 400 naming the field."""
    raw = credential.get("rawId")
    try:
        if isinstance(raw, str) and raw and len(raw) <= 1400:
            return base64url_to_bytes(raw)
    except ValueError:
        pass
    raise BadRequest(
        "body.credential.rawId must be the credential's id in base64url, as the passkey "
        "script sends it",
        extra={"reason": "credential", "errors": [_field("rawId", "not base64url")]},
    )


def verify_registration(
    party: RelyingParty, credential: dict[str, Any], challenge: bytes, *, require_uv: bool
) -> VerifiedRegistration:
    """The verified attestation, or a 400 saying why and what to do."""
    _check_client_data(party, credential)
    try:
        return verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=party.rp_id,
            expected_origin=party.expected_origin(),
            require_user_verification=require_uv,
        )
    except Exception as exc:  # a parser of hostile input: any failure is the input's
        raise _refused(BadRequest, exc, "Ask for new registration options and try again") from None


def verify_authentication(
    party: RelyingParty,
    credential: dict[str, Any],
    challenge: bytes,
    *,
    public_key: bytes,
    require_uv: bool,
    challenge_header: str,
) -> VerifiedAuthentication:
    """The verified assertion, or a 401. The signature counter is compared by the caller
    (the library is given 0), so that only a correctly signed answer can report a clone."""
    _check_client_data(party, credential, challenge_header)
    try:
        return verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=party.rp_id,
            expected_origin=party.expected_origin(),
            credential_public_key=public_key,
            credential_current_sign_count=0,
            require_user_verification=require_uv,
        )
    except Exception as exc:
        raise _refused(
            Unauthorized,
            exc,
            "Ask for new sign-in options and try again, or sign in another way",
            challenge_header,
        ) from None


def _check_client_data(
    party: RelyingParty, credential: dict[str, Any], challenge_header: str | None = None
) -> None:
    """A page on another origin gets its own sentence: the usual cause is a misconfigured
    ``BASTION_WEBAUTHN_ORIGINS`` or a phishing page, and either deserves saying."""
    response = credential.get("response")
    data = response.get("clientDataJSON") if isinstance(response, dict) else None
    try:
        origin = parse_client_data_json(base64url_to_bytes(data)).origin if data else None
    except Exception:
        return  # malformed: the library's own checks name it
    if origin is not None and origin not in party.origins:
        kind: type[HTTPError] = Unauthorized if challenge_header else BadRequest
        headers = {"www-authenticate": challenge_header} if challenge_header else {}
        raise refusal(
            kind,
            "origin",
            f"The passkey answered for the page at {origin}, which is not this site "
            f"({', '.join(party.origins)}); use the site's own page, or add the origin to "
            "BASTION_WEBAUTHN_ORIGINS",
            **headers,
        )


def _refused(
    kind: type[HTTPError], exc: Exception, next_step: str, challenge_header: str | None = None
) -> HTTPError:
    message = str(exc).split(". See __cause__")[0].rstrip(".") or type(exc).__name__
    reason = "rp_id" if "RP ID" in message else "credential"
    if reason == "rp_id":
        message = "The passkey was made for another site (its rp id hash does not match)"
    logger.info("passkey refused: %s", message)
    headers = {"www-authenticate": challenge_header} if challenge_header else None
    return kind(
        f"{message}. {next_step}",
        headers=headers,
        extra={"reason": reason, "errors": [_field("", message)]},
    )


def _field(name: str, reason: str) -> dict[str, str]:
    return {"field": "body.credential" + (f".{name}" if name else ""), "reason": reason}
