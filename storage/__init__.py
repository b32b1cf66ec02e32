"""Storage: the records the bot keeps and the interfaces it keeps them through.

storage/sqlite/ is the SQLite implementation: the connection, migrations, repositories and
the FTS5 compiler.
"""
