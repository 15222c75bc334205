"""Command groups kept out of cli.py; each module exposes `register(app)`, called from cli.py."""
