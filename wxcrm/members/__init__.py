"""Members, group accounts, tiers, stores, staff and roles."""
