"""Coupons: templates, issuing, the wallet, the best-combination choice at the till, redemption."""
