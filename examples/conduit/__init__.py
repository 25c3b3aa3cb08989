"""Conduit: the RealWorld example backend (https://realworld-docs.netlify.app) on Bastion.

`make demo` migrates, seeds and serves it on http://127.0.0.1:8000 (API under /api, docs at
/docs); docs/conduit.md walks through how it is built.
"""
