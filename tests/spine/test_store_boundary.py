"""SQL lives in the store: no module outside the store layer imports SQLAlchemy or psycopg, or carries a string
that reads like a SQL statement. Callers get plain values from repository functions, so a schema change is a
change to the store (and a migration), not a hunt through workers, routes and benchmarks."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("resilience", "ingest", "alerts")
DRIVERS = ("sqlalchemy", "psycopg")

# The store layer: the only modules allowed to speak SQL (migrations and tests are outside the scanned packages).
STORE = ("resilience/store/", "alerts/store/", "alerts/store.py", "resilience/risk/store.py")

TEMPORARY: tuple[str, ...] = ()  # modules still to move; empty since the console branch landed

# The table definitions are query builders: whoever holds them writes SQL, if in Python rather than in a string.
SCHEMA_MODULES = ("resilience.store.schema", "alerts.store.schema")

SQL_STATEMENT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|ALTER|DROP)\s")
SQL_CLAUSE = re.compile(r"\bON CONFLICT\b")


def _exempt(rel: str) -> bool:
    return any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in STORE + TEMPORARY)


def _checked_files() -> list[tuple[str, Path]]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if not _exempt(rel):
                out.append((rel, path))
    return out


def _is_driver(module: str) -> bool:
    """``psycopg_pool``, ``sqlalchemy_utils`` and the like count: they are the same drivers' kin."""
    return module.split(".")[0].startswith(DRIVERS)


def driver_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """Every import of a database driver or toolkit, also inside functions and ``if TYPE_CHECKING`` blocks."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"import {a.name}") for a in node.names if _is_driver(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and _is_driver(node.module):
            found.append((node.lineno, f"from {node.module} import ..."))
    return sorted(found)


def _docstrings(tree: ast.AST) -> set[int]:
    """Ids of the docstring constants: prose may name a statement (\"INSERT ... ON CONFLICT, so re-seeding ...\")."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def schema_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """Imports of the table definitions (``from resilience.store.schema import sensors``)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
            else []
        )
        if any(n in SCHEMA_MODULES for n in names):
            found.append((node.lineno, next(n for n in names if n in SCHEMA_MODULES)))
    return sorted(found)


def sql_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants (f-string parts too) that read like a SQL statement or carry an ON CONFLICT clause."""
    prose = _docstrings(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            if SQL_STATEMENT.match(node.value) or SQL_CLAUSE.search(node.value):
                found.append((node.lineno, node.value.strip().splitlines()[0][:60]))
    return sorted(found)


def test_no_database_driver_outside_the_store() -> None:
    offences = [
        f"{rel}:{line}: {what}"
        for rel, path in _checked_files()
        for line, what in driver_imports(ast.parse(path.read_text(), rel))
    ]
    assert not offences, "SQLAlchemy/psycopg imported outside the store:\n" + "\n".join(offences)


def test_no_table_definitions_outside_the_store() -> None:
    offences = [
        f"{rel}:{line}: {what}"
        for rel, path in _checked_files()
        for line, what in schema_imports(ast.parse(path.read_text(), rel))
    ]
    assert not offences, "table definitions (query builders) imported outside the store:\n" + "\n".join(offences)


def test_no_sql_outside_the_store() -> None:
    offences = [
        f"{rel}:{line}: {what!r}"
        for rel, path in _checked_files()
        for line, what in sql_literals(ast.parse(path.read_text(), rel))
    ]
    assert not offences, "SQL outside the store:\n" + "\n".join(offences)


def test_the_checks_catch_what_they_are_for() -> None:
    """The detectors themselves: each form of the offence is caught, lookalikes are not."""
    src = (
        "import sqlalchemy as sa\nfrom psycopg import sql\ndef f():\n    from sqlalchemy.exc import IntegrityError\n"
        "import sqlalchemy_utils\nimport psycopg_pool\nimport resilience.store.db\n"
    )
    assert [line for line, _ in driver_imports(ast.parse(src))] == [1, 2, 4, 5, 6]
    src = (
        "from resilience.store import schema\nfrom resilience.store.schema import sensors\nimport alerts.store.schema\n"
    )
    assert [line for line, _ in schema_imports(ast.parse(src))] == [1, 2, 3]
    assert schema_imports(ast.parse("from resilience.store import readings, db\n")) == []
    src = (
        'q = "SELECT 1"\nr = """\n  INSERT INTO t VALUES (1)"""\ns = f"x ON CONFLICT DO NOTHING {q}"\n'
        't = "Select a district"\nu = "UPDATED"\ndef f():\n    """INSERT ... ON CONFLICT: prose."""\n'
    )
    assert [line for line, _ in sql_literals(ast.parse(src))] == [1, 2, 4]


def test_the_exemptions_exist() -> None:
    """A stale exemption hides nothing but reads as if it did: every listed path is still there."""
    missing = [p for p in STORE[:1] + STORE[3:] + TEMPORARY if not (ROOT / p).exists()]
    assert (ROOT / "alerts/store.py").exists() or (ROOT / "alerts/store").is_dir()
    assert not missing, missing


def test_no_alert_store_module_is_named_after_a_table_it_queries() -> None:
    """Importing ``alerts.store.x`` sets the package's attribute ``x`` to the module: a module named after a
    table the package's own functions use (``notifications``, ``silences``) would replace that table in them."""
    import sqlalchemy

    import alerts.store as store

    tables = {name for name, value in vars(store).items() if isinstance(value, sqlalchemy.Table)}
    assert {"alerts", "notifications", "silences"} <= tables
    modules = {p.stem for p in (ROOT / "alerts" / "store").glob("*.py")}
    assert modules & {t.name for t in store.schema.metadata.tables.values()} == set()
