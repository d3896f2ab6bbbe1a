"""Journeys' own open and click tracking.

Marketing email (by default; per category and per template it can be turned off) has
its links rewritten to signed redirects ``/t/c/{token}`` and carries a 1x1 pixel
``/t/o/{token}`` (journeys/tracking/links.py). A hit (api/routes/tracking.py) is told
apart from machines (journeys/intake/machines.py, whose rules judge an ESP's reports too),
recorded for the figures and the timeline, and, the first time a person makes it, stored
as an ``email.clicked`` or ``email.opened`` event that journeys can wait for
(journeys/tracking/hits.py, journeys/intake/engagement.py).
"""
