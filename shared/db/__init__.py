"""Database access: table definitions, engine, migrations, the job queue (SQLAlchemy Core).

Infrastructure: imports only `shared.config`, `shared.clock` and `shared.private_files`.
"""
