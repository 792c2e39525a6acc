"""The record of sales: transactions, their lines and benefits (written by checkout), and
the queries that read them for the rules, the console and the reports."""
