"""Where the tests' files are, from one place, so a test file can move without its paths breaking."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository
TESTS = ROOT / "tests"
FIXTURES = TESTS / "fixtures"
SCHEMAS = FIXTURES / "schemas"
REAL = FIXTURES / "real"
