def pytest_configure(config):
    # Until pyproject.toml lists it: `-m "not fuzz"` deselects the shape-program tests (about 90 s).
    config.addinivalue_line("markers", "fuzz: random shape programs exported with torch (tests/property)")
