"""Where the dev kit tests find their templates."""

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_TEMPLATE = FIXTURES / "template.yaml"
