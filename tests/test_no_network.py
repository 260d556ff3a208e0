"""The suite-wide guard in conftest.py refuses connections beyond this machine."""
import socket

import pytest


def test_connections_beyond_this_machine_are_refused():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        with pytest.raises(OSError, match="tests may not use the network"):
            s.connect(("93.184.216.34", 80))
