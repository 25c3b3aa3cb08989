"""Dev-profile diagnostics watch the session's ORM executions for lazy loads; an INSERT,
UPDATE or DELETE run through the session must pass untouched (asking such an execution
whether it was a lazy load raised InvalidRequestError, a 500 on every write in dev)."""

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bastion import Settings
from bastion.testing import TestClient
from tests.db.test_diagnostics import Owner, make_app


def test_core_writes_through_the_session_work_in_the_dev_profile(tmp_path):
    app, _ = make_app(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}", Settings(profile="dev"))

    @app.post("/write")
    async def write(db: AsyncSession) -> int:
        await db.execute(insert(Owner).values([{"name": "n1"}, {"name": "n2"}]))
        await db.execute(update(Owner).where(Owner.name == "n1").values(name="renamed"))
        await db.execute(delete(Owner).where(Owner.name == "n2"))
        return len((await db.scalars(select(Owner))).all())

    with TestClient(app) as client:
        response = client.post("/write")
        assert response.status_code == 201, response.text
        assert response.json() == 8
