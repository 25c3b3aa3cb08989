"""Import-time check: bastion plus a 100-route app, built (see docs/benchmarks.md)."""

from bastion import App

app = App()
for i in range(100):
    app.get(f"/items{i}/{{item_id:int}}", name=f"r{i}")(lambda item_id, q=None: {"id": item_id})
app._ensure_built()
