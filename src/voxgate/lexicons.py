"""Where pronunciation lexicons live: the server's file, and one JSON file per owner in the data dir.

An owner is an API key's client id, or ``*`` (everyone) when API keys are off. An owner's
lexicon is the server's entries with the owner's own over them (the owner's win for the same
word). Files are written atomically (a temporary file, fsynced, renamed over the old one), so a
crash leaves the old lexicon or the new one, never half of one.

Synchronous file I/O: callers on an event loop use ``asyncio.to_thread`` for :meth:`put` and
:meth:`delete`; :meth:`get` answers from memory after the first read.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voxgate.errors import InvalidInput
from voxgate.text.lexicon import Lexicon, LexiconEntry, check_entry

__all__ = ["EVERYONE", "LexiconStore", "entries_from_json"]

EVERYONE = "*"
"""The owner of the one lexicon used when API keys are off."""


def entries_from_json(data: Any, *, field: str = "entries") -> list[LexiconEntry]:
    """Entries from their JSON form (a list of objects), checked.

    Raises:
        InvalidInput: naming ``entries[i]`` or ``entries[i].<name>``.
    """
    if isinstance(data, dict):
        data = data.get("entries")
    if not isinstance(data, list):
        raise InvalidInput(field, "must be a list of entries")
    entries: list[LexiconEntry] = []
    for i, item in enumerate(data):
        where = f"{field}[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("word"), str):
            raise InvalidInput(f"{where}.word", "each entry is an object with a word")
        unknown = set(item) - {"word", "say", "ipa", "pinyin", "case_sensitive"}
        if unknown:
            raise InvalidInput(f"{where}.{sorted(unknown)[0]}", "not a field of a lexicon entry")
        values = {name: item.get(name) for name in ("say", "ipa", "pinyin")}
        for name, value in values.items():
            if value is not None and not isinstance(value, str):
                raise InvalidInput(f"{where}.{name}", "must be a string")
        case = item.get("case_sensitive", False)
        if not isinstance(case, bool):
            raise InvalidInput(f"{where}.case_sensitive", "must be true or false")
        entry = LexiconEntry(item["word"].strip(), values["say"], values["ipa"], values["pinyin"], case)
        check_entry(entry, where)
        entries.append(entry)
    return entries


class LexiconStore:
    """Lexicons per owner.

    Args:
        directory: where owners' files live (created when first written).
        server_file: the server's lexicon (a JSON list of entries, or ``{"entries": [...]}``);
            ``None`` = none.
        max_entries: the most entries an owner may have.

    Raises:
        ValueError: the server file cannot be read or has a bad entry.
    """

    def __init__(self, directory: Path, *, server_file: Path | None = None, max_entries: int = 1000) -> None:
        self.directory = directory
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._compiled: dict[str, Lexicon] = {}
        self._server: list[LexiconEntry] = []
        if server_file is not None:
            try:
                self._server = entries_from_json(json.loads(server_file.read_text("utf-8")))
            except (OSError, ValueError, InvalidInput) as exc:
                raise ValueError(f"text.lexicon_file {server_file}: {exc}") from exc

    @property
    def server(self) -> list[LexiconEntry]:
        """The entries of the server's lexicon file (read-only for callers)."""
        return list(self._server)

    def _path(self, owner: str) -> Path:
        name = "everyone" if owner == EVERYONE else hashlib.sha256(owner.encode()).hexdigest()[:32]
        return self.directory / f"{name}.json"

    def own(self, owner: str) -> list[LexiconEntry]:
        """The owner's own entries (without the server's)."""
        try:
            data = json.loads(self._path(owner).read_text("utf-8"))
        except FileNotFoundError:
            return []
        return entries_from_json(data)

    def get(self, owner: str) -> Lexicon:
        """The owner's lexicon: the server's entries, then the owner's."""
        with self._lock:
            known = self._compiled.get(owner)
        if known is not None:
            return known
        lexicon = Lexicon([*self._server, *self.own(owner)])
        with self._lock:
            self._compiled[owner] = lexicon
        return lexicon

    def put(self, owner: str, entries: Sequence[LexiconEntry]) -> Lexicon:
        """Replace the owner's entries (atomically).

        Raises:
            InvalidInput: more than ``max_entries`` entries (naming ``entries``).
        """
        if len(entries) > self.max_entries:
            raise InvalidInput("entries", f"{len(entries)} entries; at most {self.max_entries} per lexicon")
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(owner)
        tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
        body = json.dumps({"entries": [e.to_dict() for e in entries]}, ensure_ascii=False, indent=1)
        with open(tmp, "w", encoding="utf-8") as file:
            file.write(body)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
        with self._lock:
            self._compiled.pop(owner, None)
        return self.get(owner)

    def delete(self, owner: str) -> None:
        """Remove the owner's entries (the server's stay)."""
        self._path(owner).unlink(missing_ok=True)
        with self._lock:
            self._compiled.pop(owner, None)
