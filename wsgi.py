"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""
from wxcrm import create_app

app = create_app()
