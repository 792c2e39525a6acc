"""Figures and reports over members, sales and ledgers for the console."""
