"""PLACEHOLDER demo data."""

DEMO_PASSWORD = "demo-password-2026"
