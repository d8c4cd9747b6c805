"""Scan history in a database: `scan --db` records each endpoint's result per run; `history` reads
them back. db.py opens SQLite or PostgreSQL, migrations.py versions the schema, record.py writes a
run, queries.py answers the questions `ehrcheck history` asks."""
