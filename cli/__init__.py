"""`neuroscreen`: the command line for integrators and operators.

Every command is a client of the running intake's FHIR API (the same routes an
EHR uses), so the command line and the HTTP API never disagree. One module per
command; each exposes `register(commands)` to add its sub-parser.
"""
