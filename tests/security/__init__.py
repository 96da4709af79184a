"""Security regression tests (issue #15): each finding as a test that fails on the code before its fix."""
