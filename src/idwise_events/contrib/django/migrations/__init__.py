"""The app's migrations: ``manage.py migrate`` creates its table."""
