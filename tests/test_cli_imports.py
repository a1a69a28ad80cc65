"""`herald import` and `herald export`, run as real subprocesses against a fresh SQLite install."""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from herald.profiles.export import COLUMNS

HERALD = (sys.executable, "-m", "herald")
TIMEOUT = 120


@dataclass
class Install:
    env: dict[str, str]
    data_dir: Path
    org_id: str
    engine: sa.Engine

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*HERALD, *args],
            env=self.env,
            cwd=self.data_dir,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    def run_all(self, *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
        """Independent commands at once (each herald start costs a second of imports)."""
        processes = [
            subprocess.Popen(
                [*HERALD, *args],
                env=self.env,
                cwd=self.data_dir,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for args in commands
        ]
        results = []
        for args, process in zip(commands, processes, strict=True):
            out, err = process.communicate(timeout=TIMEOUT)
            results.append(subprocess.CompletedProcess(args, process.returncode, out, err))
        return results

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(sa.text(sql), params).scalar()


def _org_param(org_id: str) -> str:
    return uuid.UUID(org_id).hex  # how SQLAlchemy stores a UUID on SQLite


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    data_dir = tmp_path_factory.mktemp("herald-cli-imports")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(
        HERALD_DATA_DIR=str(data_dir),
        HERALD_SECRET_KEY=secrets.token_urlsafe(36),  # 48 characters
        HERALD_LOG_LEVEL="warning",
        NO_COLOR="1",
        TERM="dumb",
        COLUMNS="200",
    )
    engine = sa.create_engine(f"sqlite:///{data_dir / 'herald.db'}")
    install = Install(env, data_dir, "", engine)
    migrated = install.run("migrate")
    assert migrated.returncode == 0, migrated.stderr
    created = install.run(
        "org",
        "create",
        "Acme",
        "--admin-email",
        "owner@example.com",
        "--admin-password",
        "a long enough password",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    install.org_id = json.loads(created.stdout)["org_id"]
    yield install
    engine.dispose()


def write_csv(path: Path, *rows: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_import_profiles_with_a_mapping_then_export_them(install: Install, tmp_path: Path) -> None:
    source = write_csv(
        tmp_path / "people.csv",
        ["E-mail", "Given name", "Surname", "Town", "Region", "Plan"],
        ["ann@example.com", "=SUM(A1:A9)", "+cmd", "-2", "@home", "gold"],
        ["bob@example.com", "Bob", "Builder", "Berlin", "BE", "pro"],
        ["not-an-email", "Nobody", "", "", "", ""],
    )
    errors_file = tmp_path / "errors.csv"
    result = install.run(
        "import",
        "profiles",
        str(source),
        "--org",
        install.org_id,
        "--map",
        "E-mail=email",
        "--map",
        "Given name=first_name",
        "--map",
        "Surname=last_name",
        "--map",
        "Town=city",
        "--map",
        "Region=region",
        "--errors",
        str(errors_file),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["status"] == "succeeded"
    assert outcome["result"] == {
        "rows": 3,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "errors": 1,
    }
    assert "Importing profiles" in result.stderr  # the progress display
    errors = list(csv.reader(errors_file.open(encoding="utf-8")))
    assert errors[0] == ["row", "field", "reason"]
    assert [(row, field) for row, field, _reason in errors[1:]] == [("4", "E-mail")]
    org = _org_param(install.org_id)
    assert install.scalar("SELECT count(*) FROM profiles WHERE org_id = :org", org=org) == 2
    assert (
        install.scalar(
            "SELECT progress_total FROM jobs WHERE id = :id", id=uuid.UUID(outcome["job_id"]).hex
        )
        == 3
    )

    # Values a spreadsheet would run as formulas, including a tab and a carriage return that
    # only an older install or direct database writes could have stored.
    with install.engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE profiles SET first_name = :tab, last_name = :cr "
                "WHERE email = 'bob@example.com'"
            ),
            {"tab": "\tTab", "cr": "\rReturn"},
        )
    target = tmp_path / "export.csv"
    to_file, to_stdout = install.run_all(
        ["export", "profiles", "--org", install.org_id, "--output", str(target)],
        ["export", "profiles", "--org", install.org_id],
    )
    assert to_file.returncode == 0, to_file.stderr
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert "Exported 2 profiles" in to_file.stderr
    text = target.read_bytes().decode("utf-8")
    # The subprocess's stdout was read as text, which turns every \r\n and \r into \n.
    assert to_stdout.stdout == text.replace("\r\n", "\n").replace("\r", "\n")
    assert not (tmp_path / "export.csv.part").exists()
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(header) == COLUMNS
    exported = {row[header.index("email")]: dict(zip(header, row, strict=True)) for row in rows}
    assert set(exported) == {"ann@example.com", "bob@example.com"}
    ann, bob = exported["ann@example.com"], exported["bob@example.com"]
    assert ann["first_name"] == "'=SUM(A1:A9)"
    assert ann["last_name"] == "'+cmd"
    assert ann["city"] == "'-2"
    assert ann["region"] == "'@home"
    assert bob["first_name"] == "'\tTab"
    assert bob["last_name"] == "'\rReturn"
    assert json.loads(ann["properties"]) == {"Plan": "gold"}


def test_import_events_runs_in_process_with_progress(install: Install, tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    lines = [
        {"event": "Viewed Product", "profile": {"external_id": f"c-{i % 50}"}, "value": i}
        for i in range(1100)
    ]
    lines[5]["unique_id"] = lines[6]["unique_id"] = "same"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n{broken\n")
    result = install.run("import", "events", str(source), "--org", install.org_id)
    assert result.returncode == 0, result.stderr
    assert "Imported 1101 lines: 1099 events stored, 1 duplicates, 1 with errors." in result.stdout
    assert "/api/imports/" in result.stdout  # where to find the failed line
    assert "Importing events" in result.stderr
    org = _org_param(install.org_id)
    stored = install.scalar(
        "SELECT count(*) FROM events WHERE org_id = :org AND source = 'import'", org=org
    )
    assert stored == 1099
    # The command ran the job itself: nothing is left for a worker, and no kick was queued.
    assert install.scalar("SELECT count(*) FROM jobs WHERE status != 'succeeded'") == 0
    queue = sa.create_engine(f"sqlite:///{install.data_dir / 'queue.db'}")
    try:
        with queue.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            if "task" in tables:
                assert connection.execute(sa.text("SELECT count(*) FROM task")).scalar() == 0
    finally:
        queue.dispose()


def test_the_commands_explain_what_is_wrong(install: Install, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "people.csv", ["email", "name"], ["a@example.com", "A"])
    jobs_before = install.scalar("SELECT count(*) FROM jobs")
    files_before = install.scalar("SELECT count(*) FROM job_files")
    missing_file, unknown_org, bad_mapping, bad_syntax = install.run_all(
        ["import", "profiles", str(tmp_path / "nope.csv"), "--org", install.org_id],
        ["import", "events", str(source), "--org", str(uuid.uuid4())],
        ["import", "profiles", str(source), "--org", install.org_id, "--map", "name=nickname"],
        ["import", "profiles", str(source), "--org", install.org_id, "--map", "name"],
    )
    assert missing_file.returncode != 0
    assert "nope.csv" in missing_file.stderr and "does not exist" in missing_file.stderr
    assert unknown_org.returncode != 0
    assert "no organization" in unknown_org.stderr
    assert bad_mapping.returncode == 1
    assert "unknown field 'nickname'" in bad_mapping.stderr
    assert bad_syntax.returncode != 0
    assert "COLUMN=FIELD" in bad_syntax.stderr
    assert install.scalar("SELECT count(*) FROM jobs") == jobs_before
    assert install.scalar("SELECT count(*) FROM job_files") == files_before
