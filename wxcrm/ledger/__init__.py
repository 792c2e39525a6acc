"""Points and stored-value ledgers, points lots and expiry, the audit."""
