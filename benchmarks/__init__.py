"""ehrcheck's benchmarks: `benchmarks/run` measures start-up, audits, scans, NDJSON validation and
scoring on loopback, next to fhir-scorecard, and writes docs/benchmarks.md. Not part of the wheel."""
