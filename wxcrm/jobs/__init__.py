"""Scheduled jobs: APScheduler under a database leader lease (see scheduler.py)."""
