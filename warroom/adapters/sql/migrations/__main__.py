"""Write a new revision from the difference between the models and the newest one:

    python -m warroom.adapters.sql.migrations revision "add report figures"

It migrates a scratch SQLite database to head, compares it with the models
(Alembic autogenerate), and writes warroom/migrations/versions/NNNN_<slug>.py with the
next number. Read it, fix what autogenerate cannot know (renames, data moves, server
defaults for new NOT NULL columns), run `ruff format`, and commit it with the model
change. tests/integration/test_migrations.py fails until models and revisions agree.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from warroom.adapters.sql.engine import make_engine
from warroom.adapters.sql.migrations import _config, migrate


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "revision":
        print(__doc__, file=sys.stderr)
        return 2
    message = argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'scratch.db'}")
        migrate(engine)
        with engine.begin() as conn:
            cfg = _config(conn)
            revs = [r.revision for r in ScriptDirectory.from_config(cfg).walk_revisions()]
            number = max((int(r) for r in revs if r.isdigit()), default=0) + 1
            rev_id = f"{number:04d}"
            slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40]
            script = command.revision(cfg, message, autogenerate=True, rev_id=rev_id, head="head")
        engine.dispose()
    path = Path(script.path) if script is not None and not isinstance(script, list) else None
    if path is not None and slug and not path.name.startswith(f"{rev_id}_{slug}"):
        path = path.rename(path.with_name(f"{rev_id}_{slug}.py"))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
