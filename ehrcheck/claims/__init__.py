"""Vendor claims: what a vendor says its product does, in a versioned YAML questionnaire.

    schema.py     the claims schema (pydantic), one question per field
    load.py       read and validate a claims file; every error names file:line, field and fix
    template.py   the commented questionnaire `ehrcheck claims init` writes
    table.py      the claims-versus-observed table and the questions for the vendor (pure)

Claims enter the evidence document validated and normalised, so `score` stays a pure function of
the evidence and re-scoring is reproducible.
"""
