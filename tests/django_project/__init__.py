"""A Django project with the idwise_events app installed, as a user's project would have it."""
