"""What an upload pass must remember about the whole file, kept on disk, not in memory.

Two things grow with the file: the pair ids met so far (to name a repeat's first line), and
in the long format every output until the end (a prompt's outputs may be anywhere in the
file). Both go to one temporary SQLite file, so that memory stays flat however many rows a
file has. Why hand-written SQL on a scratch SQLite file: held in dicts, the long format took
1,005 MiB for 3,000,000 short rows (about 20 MiB per MB of input); with this file 12,000,000
rows peak at 70 MiB, and the wide format at 69 MiB (`DEBUG=1 .venv/bin/python
bench/bench_upload_memory.py --scale 1 --cases short_wide,short_long`; bench/README.md,
"Upload memory"). SQLite keeps CACHE_KIB in memory and the rest in the file
(REVIEWAPP_UPLOAD_DIR), removed at the end; remove_stale_uploads clears what a killed
import left behind. Text is compared as its UTF-8 bytes, exactly as a dict compares it.
"""

import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator

from .upload_files import pending_upload_dir


def _key(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


class UploadScratch:
    """One upload pass's scratch file: seen pair ids, and a long file's prompt groups in the
    interface upload_parser.PromptGroups defines (its in-memory twin)."""

    CACHE_KIB = 8192

    def __enter__(self):
        # Next to the uploads waiting for confirmation: a folder sized for files.
        directory = pending_upload_dir()
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle, self.path = tempfile.mkstemp(dir=directory, prefix="pair-ids-", suffix=".ids")
        except OSError as exc:  # reported like SQLite's own "unable to open database file"
            raise sqlite3.OperationalError(f"cannot create a file in {directory}: {exc}") from exc
        os.close(handle)
        self.db = None
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)
            # A scratch file: no journal, no fsync, one writer.
            self.db.executescript(
                f"""
                PRAGMA journal_mode = OFF;
                PRAGMA synchronous = OFF;
                PRAGMA locking_mode = EXCLUSIVE;
                PRAGMA cache_size = -{self.CACHE_KIB};
                PRAGMA temp_store = FILE;
                CREATE TABLE seen (id BLOB PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE prompt (
                    id BLOB PRIMARY KEY, line INTEGER NOT NULL, digest BLOB NOT NULL,
                    text TEXT NOT NULL, metadata TEXT NOT NULL
                );
                CREATE INDEX prompt_line ON prompt (line);
                CREATE TABLE output (
                    prompt BLOB NOT NULL, model BLOB NOT NULL, line INTEGER NOT NULL,
                    text TEXT NOT NULL, PRIMARY KEY (prompt, model)
                );
                BEGIN;
                """
            )
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info):
        if self.db is not None:
            self.db.close()
        os.unlink(self.path)

    def first_line(self, pair_id: str, line: int) -> int:
        """The line this id was first met on; records it at `line` if it is new."""
        key = _key(pair_id)
        try:
            self.db.execute("INSERT INTO seen VALUES (?, ?)", (key, line))
        except sqlite3.IntegrityError:
            (first,) = self.db.execute("SELECT line FROM seen WHERE id = ?", (key,)).fetchone()
            return first
        return line

    # -- a long file's outputs, grouped by prompt id (see upload_parser.PromptGroups) --

    def prompt_line(self, prompt_id: str, line: int, prompt: str, metadata: dict):
        """(first line of this prompt id, whether its prompt text is this one); the group
        starts here if the id is new."""
        key, digest = _key(prompt_id), hashlib.blake2b(_key(prompt), digest_size=16).digest()
        found = self.db.execute("SELECT line, digest FROM prompt WHERE id = ?", (key,)).fetchone()
        if found is not None:
            return found[0], found[1] == digest
        self.db.execute(
            "INSERT INTO prompt VALUES (?, ?, ?, ?, ?)",
            (key, line, digest, prompt, json.dumps(metadata)),
        )
        return line, True

    def add_output(self, prompt_id: str, model: str, line: int, output: str) -> int:
        """The line of this prompt's output from this model: `line`, or an earlier one."""
        key = (_key(prompt_id), _key(model))
        try:
            self.db.execute("INSERT INTO output VALUES (?, ?, ?, ?)", (*key, line, output))
        except sqlite3.IntegrityError:
            return self.db.execute(
                "SELECT line FROM output WHERE prompt = ? AND model = ?", key
            ).fetchone()[0]
        return line

    def groups(self) -> Iterator[tuple[str, int, str, dict, dict[str, tuple[int, str]]]]:
        """(prompt id, first line, prompt, metadata, {model: (line, output)}) per prompt, in
        the order of their first lines; one prompt's outputs in memory at a time."""
        prompts = self.db.execute("SELECT id, line, text, metadata FROM prompt ORDER BY line")
        for key, line, text, metadata in _fetch(prompts):
            outputs = {
                model.decode("utf-8", "surrogatepass"): (out_line, out_text)
                for model, out_line, out_text in self.db.execute(
                    "SELECT model, line, text FROM output WHERE prompt = ?", (key,)
                )
            }
            yield key.decode("utf-8", "surrogatepass"), line, text, json.loads(metadata), outputs


def _fetch(cursor, size: int = 500):
    while rows := cursor.fetchmany(size):
        yield from rows
