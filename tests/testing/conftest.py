"""The plugin's own tests run user test files in a pytest of their own (``pytester``)."""

pytest_plugins = ["pytester"]
