"""The notify service: alerts the care coordinator through the EHR (Celery queue ``notify``)."""
