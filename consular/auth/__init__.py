"""Users, roles, login with 2FA, API tokens, and the one scoping function per resource."""
