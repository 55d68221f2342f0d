"""The README's list of unimplemented operations is exact, and every other operation of the
three botocore models has a handler."""

from __future__ import annotations

import re
from pathlib import Path

from chalicelib.protocol.dispatch import handlers
from chalicelib.protocol.model import all_operations

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_lists_exactly_the_unimplemented_operations() -> None:
    text = README.read_text()
    block = re.search(r"<!-- unimplemented-operations -->(.*?)<!-- /unimplemented-operations",
                      text, re.DOTALL)
    assert block, "README.md lost its unimplemented-operations block"
    listed = {name.strip() for name in block.group(1).replace("\n", " ").split(",")
              if name.strip()}
    operations = {op.name for op in all_operations()}
    missing = operations - set(handlers())
    assert len(operations) == 79
    assert listed == missing
    assert f"{len(operations) - len(missing)} of the 79 operations are implemented" in text
