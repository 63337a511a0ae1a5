"""The plugin is tested the way pytest tests plugins: a test suite run inside the test (pytester)."""

from __future__ import annotations


def pytest_configure(config):
    # pytester is a plugin of pytest's own; `pytest_plugins` may only name it in the top conftest.
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
