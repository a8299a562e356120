"""Pronunciation lexicons over HTTP: per-key entries, applied to what is spoken, in the cache key, bounded."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from voxgate.audio.decode import decode
from voxgate.settings import Settings
from voxgate.testing import serve_in_thread

ESPEAK = "espeak-en-us"
KEY_A, KEY_B = "a" * 32, "b" * 32
ALICE, BOB = {"Authorization": f"Bearer {KEY_A}"}, {"Authorization": f"Bearer {KEY_B}"}
MAX_ENTRIES = 5


@pytest.fixture(scope="module")
def http(
    api_settings: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    """One real server: piper and espeak, two API keys, a server lexicon file, at most 5 entries per key."""
    server_file = tmp_path_factory.mktemp("lexicon") / "server.json"
    server_file.write_text(json.dumps([{"word": "QoS", "say": "quality of service"}]))
    keys = {"alice": {"key": KEY_A}, "bob": {"key": KEY_B}}
    settings = api_settings(
        server={"api_keys": keys},
        text={"lexicon_file": str(server_file), "lexicon_max_entries": MAX_ENTRIES},
    )
    with serve_in_thread(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def _put(
    http: httpx.Client, entries: list[dict[str, Any]], headers: dict[str, str] = ALICE
) -> httpx.Response:
    return http.put("/api/v1/lexicon", json={"entries": entries}, headers=headers)


def _tts(http: httpx.Client, text: str, headers: dict[str, str], voice: str = ESPEAK) -> httpx.Response:
    response = http.post("/api/v1/tts", json={"text": text, "voice": voice, "format": "wav"}, headers=headers)
    assert response.status_code == 200, response.text
    return response


def _seconds(response: httpx.Response) -> float:
    audio, rate = decode(response.content, "wav")
    return len(audio) / rate


def test_entries_are_per_key_and_need_a_key(http: httpx.Client) -> None:
    """Alice's entries are hers: Bob sees only the server's; no key → 401."""
    assert http.get("/api/v1/lexicon").status_code == 401
    response = _put(http, [{"word": "NASA", "say": "nasa"}])
    assert response.status_code == 200, response.text
    assert response.json()["entries"] == [{"word": "NASA", "say": "nasa"}]
    assert response.json()["server_entries"] == 1
    assert response.json()["server"] == [{"word": "QoS", "say": "quality of service"}]  # shown read-only
    bob = http.get("/api/v1/lexicon", headers=BOB).json()
    assert bob["entries"] == []
    assert bob["version"] != response.json()["version"]


def test_a_say_entry_changes_what_is_spoken_and_the_cache_key(http: httpx.Client) -> None:
    """'W' said as 'double you' three times: Alice's audio is longer than Bob's, a miss, then a hit."""
    assert _put(http, [{"word": "w", "say": "double you double you double you"}]).status_code == 200
    alice = _tts(http, "W is here.", ALICE)
    bob = _tts(http, "W is here.", BOB)
    assert alice.headers["x-voxgate-cache"] == bob.headers["x-voxgate-cache"] == "miss"
    assert _seconds(alice) > _seconds(bob) + 0.5
    assert _tts(http, "W is here.", ALICE).headers["x-voxgate-cache"] == "hit"
    assert _put(http, [{"word": "w", "say": "double you"}]).status_code == 200
    assert _tts(http, "W is here.", ALICE).headers["x-voxgate-cache"] == "miss"  # a new lexicon version


def test_ssml_text_and_dialogue_turns_get_the_lexicon_too(http: httpx.Client) -> None:
    """An SSML document's text and a dialogue turn are read with the caller's say entries."""
    assert _put(http, [{"word": "w", "say": "double you double you double you"}]).status_code == 200
    ssml = "<speak>W <break time='100ms'/> is here.</speak>"
    assert _seconds(_tts(http, ssml, ALICE)) > _seconds(_tts(http, ssml, BOB)) + 0.5
    body = {"dialogue": [{"voice": ESPEAK, "text": "W is here."}], "format": "wav"}
    alice = http.post("/api/v1/tts", json=body, headers=ALICE)
    bob = http.post("/api/v1/tts", json=body, headers=BOB)
    assert _seconds(alice) > _seconds(bob) + 0.5


def test_the_server_lexicon_applies_to_every_key(http: httpx.Client) -> None:
    """The server file's 'QoS' → 'quality of service' for both keys: longer than the letters Q-o-S."""
    plain = _tts(http, "Q o S matters.", BOB)
    assert _seconds(_tts(http, "QoS matters.", BOB)) > _seconds(plain) + 0.3


def test_an_ipa_entry_takes_the_phoneme_path(http: httpx.Client) -> None:
    """An ipa entry reaches piper as phonemes (nothing ignored); espeak speaks the word and says so."""
    assert _put(http, [{"word": "tomato", "ipa": "təˈmɑːtoʊ"}]).status_code == 200
    by_piper = _tts(http, "A tomato, please.", ALICE, voice="joe")
    assert "x-voxgate-ignored" not in by_piper.headers
    assert _tts(http, "A tomato, please.", ALICE).headers["x-voxgate-ignored"] == "ssml:phoneme"
    assert "x-voxgate-ignored" not in _tts(http, "A tomato, please.", BOB).headers


@pytest.mark.parametrize(
    ("entries", "field"),
    [
        ([{"word": "x", "say": "y"}, {"word": "one two three four five", "say": "z"}], "entries[1].word"),
        ([{"word": "x", "say": "y", "ipa": "z"}], "entries[0]"),
        ([{"word": "x"}], "entries[0]"),
        ([{"word": "x", "sound": "y"}], "entries[0].sound"),
        ([{"word": "a+b", "say": "y"}], "entries[0].word"),
        ([{"word": "x", "say": ""}], "entries[0].say"),
        ([{"word": f"w{i}", "say": "y"} for i in range(MAX_ENTRIES + 1)], "entries"),
    ],
)
def test_bad_entries_are_422_naming_the_field(
    http: httpx.Client, entries: list[dict[str, Any]], field: str
) -> None:
    """Too many words, two or no pronunciations, unknown field, not a word, empty, too many entries → 422."""
    response = _put(http, entries)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


def test_delete_leaves_the_server_entries(http: httpx.Client) -> None:
    """DELETE empties the caller's entries; the server's stay and still apply."""
    assert _put(http, [{"word": "x", "say": "y"}]).status_code == 200
    response = http.delete("/api/v1/lexicon", headers=ALICE)
    assert response.status_code == 200
    assert response.json()["entries"] == []
    assert response.json()["server_entries"] == 1


def test_a_jobs_text_gets_the_owners_say_entries(
    make_client: Callable[[Settings], TestClient], api_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """With keys off the lexicon is everyone's; a job speaks its say entries (its audio is as long as
    the native answer for the replaced text, not for the word as written) and its captions show the
    words as written."""
    jobs = {"database": tmp_path / "jobs.sqlite3", "audio_dir": tmp_path / "audio"}
    client = make_client(api_settings(engines={"piper": {"enabled": False}}, jobs=jobs))
    assert (
        client.put("/api/v1/lexicon", json={"entries": [{"word": "FAQ", "say": "fack"}]}).status_code == 200
    )
    assert client.get("/api/v1/lexicon").json()["entries"] == [{"word": "FAQ", "say": "fack"}]
    response = client.post("/api/v1/jobs", json={"text": "Read the FAQ.", "voice": ESPEAK, "format": "wav"})
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    for _ in range(300):
        if client.get(f"/api/v1/jobs/{job_id}").json()["status"] == "done":
            break
        time.sleep(0.05)
    assert "Read the FAQ." in client.get(f"/api/v1/jobs/{job_id}/captions.vtt").text
    job_audio = client.get(f"/api/v1/jobs/{job_id}/audio").content
    native = client.post("/api/v1/tts", json={"text": "Read the fack.", "voice": ESPEAK, "format": "wav"})
    assert client.delete("/api/v1/lexicon").status_code == 200
    unchanged = client.post("/api/v1/tts", json={"text": "Read the FAQ.", "voice": ESPEAK, "format": "wav"})
    job, fack, faq = (len(decode(data, "wav")[0]) for data in (job_audio, native.content, unchanged.content))
    assert abs(job - fack) < 0.02 * 22050 < 0.1 * 22050 < abs(job - faq)  # "fack", not "F A Q"
