"""Consular protection: case register, liaison/station network, accounts and audit."""
