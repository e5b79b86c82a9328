"""What several test modules share: fixtures (registered in ``tests/conftest.py``) and helpers.
Test modules import from here, never from one another."""
