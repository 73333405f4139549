"""Django finds the app's management commands here."""
