"""Entry point: log in, build the navigation for the user's role, run the page."""
from components import shell

shell.run()
