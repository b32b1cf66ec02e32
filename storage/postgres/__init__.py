"""The PostgreSQL implementation of storage/: a pool, migrations, repositories, tsvector search.

(Being built: the repositories land next; /tmp/work/pg_init_final.py is this face's final form.)
"""

from __future__ import annotations

from storage import Storage


async def open_postgres(url: str) -> Storage:
    """Connect to the database at url (postgresql://), migrate it, and wrap it."""
    raise NotImplementedError("the PostgreSQL repositories are not built yet")
