"""Social login: OAuth 2.0 / OpenID Connect sign-in with GitHub, Google or any OIDC provider.

Importing ``bastion.auth.social`` puts ``auth_social_accounts`` on ``bastion.db.Model.metadata``.
"""

from bastion.auth.social.models import SocialAccount, SocialUsers
from bastion.auth.social.providers import (
    GitHubProvider,
    GoogleProvider,
    OIDCProvider,
    Provider,
    SocialError,
    SocialProfile,
)
from bastion.auth.social.routes import SocialRoutes

__all__ = [
    "GitHubProvider",
    "GoogleProvider",
    "OIDCProvider",
    "Provider",
    "SocialAccount",
    "SocialError",
    "SocialProfile",
    "SocialRoutes",
    "SocialUsers",
]
