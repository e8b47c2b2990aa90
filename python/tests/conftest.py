"""Shared by attnspec's Python tests: where the source and build trees are, and a seeded generator."""
import os
import subprocess
import sys

import numpy as np
import pytest

SOURCE = os.environ.get("ATTNSPEC_SOURCE", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("ATTNSPEC_BUILD", os.path.join(SOURCE, "build"))
sys.path.insert(0, os.path.join(SOURCE, "scripts"))  # the shipped models' torch definitions


@pytest.fixture
def rng():
    return np.random.default_rng(2604)


def run(*command):
    """Runs a command, failing the test with its output when it fails."""
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout
