"""The README's configuration table lists every environment variable the settings read."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV_READ = re.compile(r"""env\.(?:str|int|bool|float|list|path|db_url)\(\s*["']([A-Z0-9_]+)["']""")


def test_every_environment_variable_is_in_the_readme_table():
    settings_source = (ROOT / "config" / "settings.py").read_text()
    read = set(ENV_READ.findall(settings_source))
    assert len(read) > 20, "env reads not found: the pattern no longer matches config/settings.py"
    readme = (ROOT / "README.md").read_text()
    config = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    first_cells = [line.split("|")[1] for line in config.splitlines() if line.startswith("| `")]
    documented = {name for cell in first_cells for name in re.findall(r"`([A-Z0-9_]+)`", cell)}
    assert sorted(read - documented) == []
