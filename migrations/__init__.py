"""Alembic revisions (Flask-Migrate): a package so an installed copy carries them and finds them."""
