import sys
from pathlib import Path

import pytest

# Tests import their helpers (graphs.py, models/) as top-level modules.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the zoo's exports, shared by every test that needs them (exported once)."""
    return tmp_path_factory.mktemp("zoo")
