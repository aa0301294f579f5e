"""FHIR REST routers, one per resource type or concern."""
