"""Store adapter: SQLAlchemy Core tables, migrations and repositories (MySQL and SQLite)."""
