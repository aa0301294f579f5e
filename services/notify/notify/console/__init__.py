"""The operations console: a small server-rendered page on the notify admin API.

``/console`` shows what an operator acts on: deliveries by tier and due time
(patient reference, summary, the EHR Task's status, escalation, a link to the
screening report), the alerts that are held, retrying or dead-lettered with the
EHR's OperationOutcome and a replay button, and the knowledge version in force.

Sign-in: the same tokens as the admin API (a static ``NEUROSCREEN_NOTIFY_TOKENS``
token, or an intake access token with ``system/neuroscreen.admin``), typed into
a login form that sets an HttpOnly, SameSite=Strict cookie (Secure over https).
The cookie holds the token, so a console session lasts as long as the token
(five minutes for an intake access token). The replay POST carries a CSRF token
derived from the session (:mod:`.session`).
"""
