"""The intake as a SMART Backend Services authorization server and resource server.

``clients`` (who may ask), ``assertion`` (checking a client's signed JWT),
``keys`` (the intake's own signing keys), ``principals`` (who is calling, from
a bearer token) and ``rate_limit`` (fair use per client).
"""
