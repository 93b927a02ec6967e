"""What a started bot keeps resident: modules it needs only later are not imported at start-up.

Each of these is memory the whole process holds from then on (``python -m bench.memory``):
Alembic and Mako (about 9 MiB) only when the schema is behind, trafilatura and lxml (about 10
MiB) only on the first Full story.
"""

from __future__ import annotations

import json
import subprocess
import sys

from alembic.script import ScriptDirectory
from sqlalchemy import text

from newsbot_testing.launcher import REPO, bot_env
from storage.db import alembic_config, head_revision, make_engine, migrate

LATER = ("alembic", "mako", "trafilatura", "lxml", "justext", "htmldate", "courlan")

_START = """
import json, sys
import bot.cli
from storage.db import make_engine, migrate
engine = make_engine(sys.argv[1])
migrate(engine)
with engine.connect() as connection:
    version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
engine.dispose()
print(json.dumps({"loaded": sorted(set(m.split(".")[0] for m in sys.modules)), "v": version}))
"""


def _start(url: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", _START, url],
        cwd=REPO,
        env=bot_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answer: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def test_a_start_on_a_schema_at_head_imports_neither_alembic_nor_the_extractor(
    db_url: str,
) -> None:
    answer = _start(db_url)
    loaded = answer["loaded"]
    assert isinstance(loaded, list)
    assert [m for m in LATER if m in loaded] == []
    assert answer["v"] == head_revision()


def test_a_start_on_a_blank_database_still_upgrades_it(blank_db_url: str) -> None:
    answer = _start(blank_db_url)
    loaded = answer["loaded"]
    assert isinstance(loaded, list)
    assert "alembic" in loaded and answer["v"] == head_revision()
    assert "trafilatura" not in loaded


def test_the_head_read_from_the_files_is_alembics() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert head_revision() == script.get_current_head()


def test_a_schema_one_revision_behind_is_upgraded(db_url: str) -> None:
    from alembic import command

    engine = make_engine(db_url)
    script = ScriptDirectory.from_config(alembic_config(db_url))
    head = script.get_revision(head_revision())
    assert head is not None and isinstance(head.down_revision, str)
    with engine.begin() as connection:
        config = alembic_config(db_url)
        config.attributes["connection"] = connection
        command.downgrade(config, head.down_revision)
    migrate(engine)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    engine.dispose()
    assert versions == [(head_revision(),)]
