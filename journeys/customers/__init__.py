"""Customers: their profiles, and identity merges (one customer known by several ids)."""
