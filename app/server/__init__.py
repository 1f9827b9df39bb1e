"""How gunicorn serves the app: its worker class and what that worker reads off the wire."""
