"""Alembic migrations of the service store, run programmatically by ``ace.service.schema``
(no ``alembic.ini`` needed). Revisions live in ``versions/``; each is written by hand and
self-contained (it never imports the current models)."""
