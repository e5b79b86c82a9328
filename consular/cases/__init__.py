"""The case register: consular-protection cases abroad and foreign-related incidents at home."""
