"""The till: one purchase or refund, from basket to receipt."""
