"""The database: SQLAlchemy models, queries per aggregate, Alembic migrations; SQLite and PostgreSQL."""
