"""The shared test kit: test homes and their settings, small lake frames, paths to the repository
and its test data. Fixtures built on it live in the root conftest.py."""
