import hashlib
import sqlite3

import pytest

SINGERS = [
    (1, "Ana", "France", 30),
    (2, "Ben", "France", 25),
    (3, "Chloe", "Spain", 41),
    (4, "Dan", "Spain", 25),
    (5, "Eve", "Italy", 35),
]


@pytest.fixture
def singer_db(tmp_path):
    """A small SQLite file; tests compare its bytes before and after."""
    path = tmp_path / "concert.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE singer (id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INTEGER)")
    conn.executemany("INSERT INTO singer VALUES (?, ?, ?, ?)", SINGERS)
    # Enough rows that a 4-way cross join runs far past any test time limit.
    conn.execute("CREATE TABLE n (i INTEGER)")
    conn.executemany("INSERT INTO n VALUES (?)", [(i,) for i in range(300)])
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def digest():
    """sha256 of a file's bytes."""
    return lambda path: hashlib.sha256(path.read_bytes()).hexdigest()
