"""Local fakes of third-party systems, for tests."""
