"""The dashboard: server-rendered pages under ``/dashboard`` for the people who run
Journeys (journeys and their figures, dead letters, a customer's timeline).

No JavaScript and no build step: Jinja2 templates (``templates/``), charts as inline SVG
drawn in Python (``charts.py``). The pages read the same operations the JSON API does
(journeys/operations/); they never query tables themselves. Behind the API key: a login
form sets a signed session cookie, and every form carries a per-session CSRF token
(``auth.py``).
"""
