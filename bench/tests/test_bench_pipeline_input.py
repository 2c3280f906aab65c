"""``bench pipeline --input PATH`` reads the scan it is given, and says so when it cannot."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


def test_an_input_that_cannot_be_read_is_refused_with_its_path(tmp_path) -> None:
    missing = tmp_path / "no-such-scan.mp4"
    with pytest.raises(CommandError, match="cannot read --input .*no-such-scan.mp4"):
        call_command("bench", "pipeline", "--json", "--runs", "1", "--input", str(missing))
