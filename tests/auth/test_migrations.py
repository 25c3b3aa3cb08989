"""An app with the ready User and every account feature gets all their tables from `bastion
db revision --autogenerate` + `upgrade`, and a second autogenerate finds nothing to do."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = "import sys; from bastion.cli import main; sys.argv[0] = 'bastion'; main()"
APP = """
import os
from bastion import App, Settings
from bastion.auth import (
    AccountPages, AccountSessionRoutes, APIKeyAuth, AuthPlugin, AuthRoutes, DatabaseStore,
    JWTAuth, Lockout, OIDCProvider, PasskeyRoutes, RefreshTokens, SessionAuth, SessionPlugin,
    SocialRoutes, TwoFactorRoutes, VerificationRoutes, load_user,
)
from bastion.db import SQLAlchemyPlugin
from bastion.security import SecurityPlugin

database = SQLAlchemyPlugin(os.environ["ACCOUNTS_DB"])
tokens = JWTAuth(secret="s" * 40)
oidc = OIDCProvider(issuer="https://id.example.com", client_id="x", client_secret="y")
app = App(
    settings=Settings(profile="dev", secret_key="s" * 40, webauthn_rp_id="localhost",
                      webauthn_origins=["http://localhost:8000"]),
    plugins=[
        database, SessionPlugin(DatabaseStore(database)), SecurityPlugin(),
        AuthPlugin(SessionAuth(), tokens, APIKeyAuth(database), load_user=load_user),
        AuthRoutes(tokens=tokens), RefreshTokens(tokens), Lockout(), VerificationRoutes(),
        TwoFactorRoutes(), AccountPages(), AccountSessionRoutes(), PasskeyRoutes(),
        SocialRoutes({"example": oidc}),
    ],
)
"""
TABLES = [
    "auth_api_keys", "auth_login_failures", "auth_passkey_challenges", "auth_passkeys",
    "auth_recovery_codes", "auth_refresh_tokens", "auth_remembered_devices", "auth_sessions",
    "auth_social_accounts", "auth_users",
]  # fmt: skip


def test_every_account_table_is_migrated_and_round_trips(tmp_path: Path) -> None:
    (tmp_path / "accounts_app.py").write_text(APP)
    env = {
        **os.environ,
        "ACCOUNTS_DB": f"sqlite+aiosqlite:///{tmp_path}/accounts.db",
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
    }

    def db(*args: str) -> None:
        command = [sys.executable, "-c", CLI, "--app", "accounts_app:app", "db", *args]
        subprocess.run(command, cwd=tmp_path, env=env, check=True, capture_output=True)

    db("init")
    db("revision", "--autogenerate", "-m", "accounts")
    db("upgrade")
    [first] = (tmp_path / "migrations" / "versions").glob("*_accounts.py")
    script = first.read_text()
    for table in TABLES:
        assert f"op.create_table('{table}'" in script, table
    for column in ("email_verified_at", "totp_secret", "totp_confirmed_at", "totp_last_step"):
        assert f"sa.Column('{column}'" in script, column
    db("revision", "--autogenerate", "-m", "again")
    [second] = (tmp_path / "migrations" / "versions").glob("*_again.py")
    upgrade = second.read_text().split("def upgrade() -> None:")[1].split("def downgrade")[0]
    assert "op." not in upgrade, upgrade  # nothing left to change
