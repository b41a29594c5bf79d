"""The reporting repository on the test's MongoDB (mongomock, or a real server)."""

import pytest

from services.reporting.repository import ReportingRepository


@pytest.fixture
def repo(database):
    repository = ReportingRepository(database("reporting"))
    repository.ensure_indexes()
    return repository
