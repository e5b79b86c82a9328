"""PLACEHOLDER — `consular users …` commands (being written)."""

import click

users = click.Group("users", help="Manage user accounts.")
