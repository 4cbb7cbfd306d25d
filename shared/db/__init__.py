"""Database access: table definitions, engine, migrations and queries (SQLAlchemy Core)."""
