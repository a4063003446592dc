from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_bootstrap_skips_migrate_when_schema_is_current():
    out = StringIO()
    call_command("bootstrap", "--no-seed", stdout=out)
    assert "Database schema is up to date." in out.getvalue()
