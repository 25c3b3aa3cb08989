"""bastion.auth is the one import path: every public name resolves from it, importing it puts
no table on the metadata (features' tables join when their names are used), and the account
docs import only from it."""

import re
import subprocess
import sys
from pathlib import Path

import bastion.auth

ROOT = Path(__file__).resolve().parents[2]


def test_every_public_name_resolves_from_bastion_auth() -> None:
    for name in bastion.auth.__all__:
        assert getattr(bastion.auth, name) is not None, name
    for name in ("VerificationRoutes", "TwoFactorRoutes", "AccountPages", "PasskeyRoutes",
                 "SocialRoutes", "GitHubProvider", "GoogleProvider", "OIDCProvider",
                 "AccountSessionRoutes", "Lockout", "RefreshTokens", "requires_verified"):  # fmt: skip
        assert name in bastion.auth.__all__, name


def test_importing_bastion_auth_adds_no_table_until_a_feature_is_used() -> None:
    script = (
        "import bastion.auth as auth\n"
        "from bastion.db import Model\n"
        "assert not Model.metadata.tables, sorted(Model.metadata.tables)\n"
        "auth.Lockout\n"
        "assert sorted(Model.metadata.tables) == ['auth_login_failures'], Model.metadata.tables\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT)


def test_the_auth_docs_import_from_bastion_auth_only() -> None:
    pages = [ROOT / "docs" / "auth.md", *sorted((ROOT / "docs").glob("accounts-*.md"))]
    for page in pages:
        deep = re.findall(r"^from bastion\.auth\.[\w.]+ import .*$", page.read_text(), re.M)
        assert deep == [], f"{page.name}: {deep}"
