"""SMART user launches (standalone patient launch, EHR launch): see probe.py and docs/launch.md."""
