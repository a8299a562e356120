"""The jobs API on a real server with real engines: submit, poll, download, idempotency, cancel, bad input."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from voxgate.audio.assemble import PARAGRAPH_PAUSE_S, SENTENCE_PAUSE_S
from voxgate.audio.decode import decode
from voxgate.jobs.assemble import CHAPTER_PAUSE_S
from voxgate.settings import Settings

MAX_CHARS = 3000
KEY_A, KEY_B = "a" * 32, "b" * 32
CHAPTERS = [
    {
        "title": "Chapter 1",
        "text": "The birch canoe slid on the smooth planks. Glue the sheet to the background.",
    },
    {
        "title": "Chapter 2",
        "text": "It is easy to tell the depth of a well.\n\nRice is often served in round bowls.",
    },
]
MARKDOWN = (
    "# Part One\n\nThe juice of lemons makes **fine** punch.\n\n"
    "# Part Two\n\nThe box was thrown beside the car.\n"
)
_CUE = re.compile(r"(\d+):(\d+):(\d+)\.(\d+) --> (\d+):(\d+):(\d+)\.(\d+)")


def _jobs_settings(api_settings: Callable[..., Settings], tmp: Path, **extra: Any) -> Settings:
    jobs = {"database": tmp / "jobs.sqlite3", "audio_dir": tmp / "audio", "max_total_chars": MAX_CHARS}
    return api_settings(jobs=jobs, **extra)


@pytest.fixture(scope="module")
def server_settings(
    api_settings: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """The settings of the module's server: its own jobs database."""
    return _jobs_settings(api_settings, tmp_path_factory.mktemp("jobs-api"))


@pytest.fixture(scope="module")
def server(make_server: Callable[[Settings], str], server_settings: Settings) -> str:
    """A real uvicorn server (piper + espeak, one worker each) with its own jobs database."""
    return make_server(server_settings)


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    """An HTTP client for the server."""
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


def _wait(
    http: httpx.Client, job_id: str, until: tuple[str, ...] = ("done", "failed", "cancelled")
) -> dict[str, Any]:
    give_up = time.monotonic() + 45
    while (status := http.get(f"/api/v1/jobs/{job_id}").json())["status"] not in until:
        assert time.monotonic() < give_up, status
        time.sleep(0.1)
    return status


def _seconds(stamp: tuple[str, ...]) -> float:
    h, m, s, ms = (int(x) for x in stamp)
    return h * 3600 + m * 60 + s + ms / 1000


def test_submit_poll_and_download_book_chapters_index_and_captions(http: httpx.Client) -> None:
    """JSON chapters → 201 → done; book and chapters last as long as the index and the sentences say."""
    response = http.post("/api/v1/jobs", json={"chapters": CHAPTERS, "voice": "joe", "format": "mp3"})
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    assert response.headers["location"] == f"/api/v1/jobs/{job_id}"
    assert response.json()["status"] in ("queued", "running")
    status = _wait(http, job_id)
    assert status["status"] == "done", status
    assert status["progress"]["chars_done"] == status["progress"]["chars_total"]
    assert [c["title"] for c in status["chapters"]] == ["Chapter 1", "Chapter 2"]
    assert status["engines"] == {"piper": status["progress"]["segments_total"]}

    book = http.get(f"/api/v1/jobs/{job_id}/audio")
    assert book.status_code == 200
    assert book.headers["content-type"] == "audio/mpeg"
    assert 'filename="book.mp3"' in book.headers["content-disposition"]
    audio, rate = decode(book.content, "mp3")
    index = http.get(f"/api/v1/jobs/{job_id}/index").json()
    assert len(audio) / rate == pytest.approx(index["duration_s"], abs=0.02)

    vtt = http.get(f"/api/v1/jobs/{job_id}/captions.vtt")
    assert vtt.headers["content-type"].startswith("text/vtt")
    cues = [(_seconds(m.groups()[:4]), _seconds(m.groups()[4:])) for m in _CUE.finditer(vtt.text)]
    assert len(cues) == status["progress"]["segments_total"] == 6
    spoken = sum(end - start for start, end in cues)
    pauses = 3 * PARAGRAPH_PAUSE_S + SENTENCE_PAUSE_S + CHAPTER_PAUSE_S  # 2 titles, 1 paragraph, 1 sentence
    assert len(audio) / rate == pytest.approx(spoken + pauses, abs=0.05)
    srt = http.get(f"/api/v1/jobs/{job_id}/captions.srt").text
    assert srt.count(" --> ") == 6
    assert "The birch canoe slid on the smooth planks." in srt

    for chapter in index["chapters"]:
        got = http.get(f"/api/v1/jobs/{job_id}/chapters/{chapter['n']}/audio")
        assert got.status_code == 200
        assert f'filename="{chapter["file"]}"' in got.headers["content-disposition"]
        chapter_audio, chapter_rate = decode(got.content, "mp3")
        assert len(chapter_audio) / chapter_rate == pytest.approx(chapter["duration_s"], abs=0.02)
    assert index["chapters"][1]["start_s"] == pytest.approx(
        index["chapters"][0]["duration_s"] + CHAPTER_PAUSE_S
    )
    assert job_id in [j["id"] for j in http.get("/api/v1/jobs").json()["jobs"]]


def test_markdown_upload_is_split_at_headings(http: httpx.Client) -> None:
    """A multipart .md upload becomes one chapter per heading, titled after the file, rendered as opus."""
    files = {"file": ("My Book.md", MARKDOWN.encode(), "text/markdown")}
    response = http.post("/api/v1/jobs", files=files, data={"voice": "joe", "format": "opus"})
    assert response.status_code == 201, response.text
    status = _wait(http, response.json()["id"])
    assert status["status"] == "done"
    assert status["title"] == "My Book"
    assert status["format"] == "opus"
    assert [c["title"] for c in status["chapters"]] == ["Part One", "Part Two"]
    chapter = http.get(f"/api/v1/jobs/{status['id']}/chapters/2/audio")
    assert chapter.headers["content-type"] == "audio/ogg; codecs=opus"
    assert decode(chapter.content, "opus")[0].size > 0


def test_idempotency_key_returns_the_same_job(http: httpx.Client) -> None:
    """The same key and body: 201 then 200 with the same job; the key with another body: 422 on the header."""
    body = {"text": "Chapter 1\n\nOne short sentence.", "voice": "joe"}
    headers = {"Idempotency-Key": f"key-{time.time_ns()}"}
    first = http.post("/api/v1/jobs", json=body, headers=headers)
    second = http.post("/api/v1/jobs", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    other = http.post("/api/v1/jobs", json={**body, "speed": 1.2}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["field"] == "Idempotency-Key"
    _wait(http, first.json()["id"])


def test_cancel_a_running_job(http: httpx.Client) -> None:
    """DELETE cancels a running job; its book then answers 404 (not ready) and it stays cancelled."""
    text = " ".join(f"Sentence number {i} is here to make the job long enough to cancel." for i in range(30))
    job_id = http.post("/api/v1/jobs", json={"text": text, "voice": "joe"}).json()["id"]
    _wait(http, job_id, until=("running",))
    cancelled = http.delete(f"/api/v1/jobs/{job_id}")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    missing = http.get(f"/api/v1/jobs/{job_id}/audio")
    assert missing.status_code == 404
    assert "is not ready: the job is cancelled" in missing.json()["error"]["message"]
    assert http.get(f"/api/v1/jobs/{job_id}/chapters/9/audio").status_code == 404
    assert http.get("/api/v1/jobs/nope").json()["error"]["code"] == "not_found"


def test_delete_a_finished_job_removes_it_and_its_files(
    http: httpx.Client, server_settings: Settings
) -> None:
    """DELETE on a done job frees its files and forgets it: the job, its audio and a second DELETE are 404."""
    job_id = http.post("/api/v1/jobs", json={"chapters": CHAPTERS[:1], "voice": "joe"}).json()["id"]
    assert _wait(http, job_id)["status"] == "done"
    folder = server_settings.jobs.audio_dir / job_id  # type: ignore[operator]
    assert (folder / "book.mp3").is_file()
    assert not (folder / "segments").exists()  # segment files go once the book is made
    deleted = http.delete(f"/api/v1/jobs/{job_id}")
    assert deleted.status_code == 200
    assert deleted.json()["status"] == "deleted"
    assert deleted.json()["freed_bytes"] > 0
    assert not folder.exists()
    assert http.get(f"/api/v1/jobs/{job_id}").status_code == 404
    assert http.get(f"/api/v1/jobs/{job_id}/audio").status_code == 404
    assert http.delete(f"/api/v1/jobs/{job_id}").status_code == 404


def test_a_second_server_on_the_same_data_dir_refuses_to_run_jobs(
    server: str, server_settings: Settings, make_client: Callable[[Settings], TestClient]
) -> None:
    """The jobs lock: a second app on the server's database reads jobs but answers 503 to a submission."""
    second = make_client(server_settings)
    refused = second.post("/api/v1/jobs", json={"text": "Hello."})
    assert refused.status_code == 503
    error = refused.json()["error"]
    assert error["code"] == "jobs_unavailable"
    assert "another voxgate process" in error["message"]
    assert second.get("/api/v1/jobs").status_code == 200
    with httpx.Client(base_url=server, timeout=30) as first:  # the first server still runs jobs
        job_id = first.post("/api/v1/jobs", json={"text": "Still here.", "voice": "joe"}).json()["id"]
        assert _wait(first, job_id)["status"] == "done"


def test_a_gateway_with_jobs_disabled_sends_every_job_request_elsewhere(
    server_settings: Settings, make_client: Callable[[Settings], TestClient]
) -> None:
    """jobs.enabled = false: every /api/v1/jobs route answers 503 naming the setting; speech still works."""
    jobs = server_settings.jobs.model_copy(update={"enabled": False})
    gateway = make_client(server_settings.model_copy(update={"jobs": jobs}))
    for response in (
        gateway.post("/api/v1/jobs", json={"text": "Hello."}),
        gateway.get("/api/v1/jobs"),
        gateway.get("/api/v1/jobs/some-id/audio"),
    ):
        assert response.status_code == 503
        error = response.json()["error"]
        assert (error["code"], "jobs.enabled = false" in error["message"]) == ("jobs_unavailable", True)
    assert gateway.post("/api/v1/tts", json={"text": "Still speaking.", "voice": "joe"}).status_code == 200


@pytest.mark.parametrize(
    ("name", "data", "status", "needle"),
    [
        ("book.txt", b"\x00\x01\x02\x03binary\x00junk", 422, "binary file"),
        ("book.txt", "Café crème brûlée.".encode("latin-1"), 422, "not UTF-8"),
        ("book.txt", "Hello there.".encode("utf-16"), 422, "UTF-16"),
        ("book.txt", b"", 422, "empty"),
        ("book.txt", b"word " * MAX_CHARS, 413, f"at most {MAX_CHARS}"),
        ("book.pdf", b"%PDF-1.7", 422, "not a .txt or .md file"),
    ],
)
def test_bad_uploads_get_4xx_naming_the_problem(
    http: httpx.Client, name: str, data: bytes, status: int, needle: str
) -> None:
    """Binary, Latin-1, UTF-16, empty, too large and non-text uploads are refused with a clear JSON error."""
    response = http.post("/api/v1/jobs", files={"file": (name, data, "application/octet-stream")})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == "file"
    assert needle in error["message"]


@pytest.mark.parametrize(
    ("kwargs", "status", "field"),
    [
        ({"json": {"text": "Hi.", "chapters": [{"text": "Hi."}]}}, 422, None),
        ({"json": {"text": "Hi.", "voice": "nobody"}}, 400, "voice"),
        ({"json": {"text": "Hi.", "format": "aac"}}, 422, "format"),
        ({"json": {"text": "Hi.", "speed": 9}}, 422, "speed"),
        ({"json": {"text": "x " * MAX_CHARS}}, 413, "text"),
        ({"json": {"chapters": []}}, 422, "chapters"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "body"),
        ({"content": b"Hello.", "headers": {"content-type": "text/plain"}}, 415, "Content-Type"),
        ({"files": {"other": ("a.txt", b"Hi.")}}, 422, "file"),
    ],
)
def test_bad_json_submissions_get_4xx(
    http: httpx.Client, kwargs: dict[str, Any], status: int, field: str | None
) -> None:
    """Both sources, unknown voice, bad format/speed, too long, no chapters, bad JSON/type, no file: 4xx."""
    response = http.post("/api/v1/jobs", **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field


def test_cli_book_against_the_server(server: str, tmp_path: Path) -> None:
    """`voxgate book --server` uploads, shows progress and writes chapters, book, index and captions."""
    source = tmp_path / "tale.md"
    source.write_text(MARKDOWN)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "voxgate.cli", "book", str(source), "-o", str(out), "--voice", "joe",
         "--server", server],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "120"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "chars" in done.stderr
    assert "done: 2 chapters" in done.stderr
    names = sorted(p.name for p in out.iterdir() if p.is_file())
    assert names == [
        "book.mp3",
        "captions.srt",
        "captions.vtt",
        "captions.words.vtt",
        "chapter-001.mp3",
        "chapter-002.mp3",
        "index.json",
    ]


def test_jobs_are_private_to_their_api_key(
    make_client: Callable[[Settings], TestClient], api_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """With API keys, a client sees and cancels only its own jobs; another key gets 404."""
    keys = {"alice": {"key": KEY_A}, "bob": {"key": KEY_B}}
    client = make_client(
        _jobs_settings(
            api_settings, tmp_path, engines={"piper": {"enabled": False}}, server={"api_keys": keys}
        )
    )
    alice, bob = {"Authorization": f"Bearer {KEY_A}"}, {"Authorization": f"Bearer {KEY_B}"}
    assert client.post("/api/v1/jobs", json={"text": "Hi."}).status_code == 401
    job_id = client.post("/api/v1/jobs", json={"text": "Hello from Alice."}, headers=alice).json()["id"]
    assert client.get(f"/api/v1/jobs/{job_id}", headers=alice).status_code == 200
    assert client.get(f"/api/v1/jobs/{job_id}", headers=bob).status_code == 404
    assert client.delete(f"/api/v1/jobs/{job_id}", headers=bob).status_code == 404
    assert client.get("/api/v1/jobs", headers=bob).json() == {"jobs": []}
    assert [j["id"] for j in client.get("/api/v1/jobs", headers=alice).json()["jobs"]] == [job_id]


SCRIPT = [
    {"title": "One", "text": "Alice: Hello Bob.\nBob: Hello Alice."},
    {"title": "Two", "text": "ALICE: One more thing.\nBob: Bye now."},
]
SPEAKERS = {"Alice": "joe", "Bob": "espeak-en-us"}


def test_a_script_job_speaks_each_line_with_its_speakers_voice(http: httpx.Client) -> None:
    """A 2-chapter script: Alice's lines by piper, Bob's by espeak, an exact 0.3 s pause between turns."""
    body = {"chapters": SCRIPT, "script": True, "speakers": SPEAKERS, "speak_titles": False, "format": "wav"}
    response = http.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    status = _wait(http, response.json()["id"])
    assert status["status"] == "done", status
    assert status["engines"] == {"piper": 2, "espeak": 2}
    job_id = status["id"]
    audio, rate = decode(http.get(f"/api/v1/jobs/{job_id}/audio").content, "wav")
    vtt = http.get(f"/api/v1/jobs/{job_id}/captions.vtt").text
    cues = [(_seconds(m.groups()[:4]), _seconds(m.groups()[4:])) for m in _CUE.finditer(vtt)]
    spoken = sum(end - start for start, end in cues)
    assert len(audio) / rate == pytest.approx(spoken + 2 * 0.3 + CHAPTER_PAUSE_S, abs=0.02)


@pytest.mark.parametrize(
    ("chapters", "speakers", "field", "words", "code"),
    [
        (
            [{"text": "Alice: Hi.\n\nCarol: Who?"}],
            SPEAKERS,
            "chapters",
            ["'Carol'", "chapter 1, line 3"],
            422,
        ),
        (
            SCRIPT,
            {"Alice": "joe", "Bob": "nobody"},
            "speakers.Bob",
            ["'nobody'"],
            400,
        ),  # as any unknown voice
        (SCRIPT, {}, "speakers", ["speakers"], 422),
    ],
)
def test_bad_scripts_are_refused_at_submission(
    http: httpx.Client,
    chapters: list[dict[str, str]],
    speakers: dict[str, str],
    field: str,
    words: list[str],
    code: int,
) -> None:
    """An unknown speaker (named, with chapter and line) or no speakers → 422; an unknown voice → 400."""
    response = http.post("/api/v1/jobs", json={"chapters": chapters, "script": True, "speakers": speakers})
    assert response.status_code == code, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert all(w in error["message"] for w in words), error["message"]


def test_a_script_upload_takes_speakers_as_json_and_names_an_unknown_one(http: httpx.Client) -> None:
    """A multipart script upload: speakers is JSON text; an unknown speaker → 422 naming it and its line."""
    files = {"file": ("play.txt", b"Alice: Hi.\nBob: Hello.\nEve: Psst.\n", "text/plain")}
    data = {"script": "true", "speakers": '{"Alice": "joe", "Bob": "espeak-en-us"}'}
    response = http.post("/api/v1/jobs", files=files, data=data)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "file"
    assert "'Eve'" in response.json()["error"]["message"]
    assert "line 3" in response.json()["error"]["message"]
    bad = http.post("/api/v1/jobs", files=files, data={**data, "speakers": "{not json"})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "speakers"


ESPEAK = "espeak-en-us"
_WORD_CUE = re.compile(r"\d+\n(\d+):(\d+):(\d+)\.(\d+) --> (\d+):(\d+):(\d+)\.(\d+)\n(.+)\n")


def _word_cues(http: httpx.Client, job_id: str) -> list[tuple[str, float, float]]:
    vtt = http.get(f"/api/v1/jobs/{job_id}/captions.vtt", params={"words": "true"}).text
    return [(m[9], _seconds(m.groups()[:4]), _seconds(m.groups()[4:8])) for m in _WORD_CUE.finditer(vtt)]


def _sentence_cues(http: httpx.Client, job_id: str) -> list[tuple[float, float, str]]:
    vtt = http.get(f"/api/v1/jobs/{job_id}/captions.vtt").text
    cue = re.compile(_CUE.pattern + r"\n(.+)\n")
    return [(_seconds(m.groups()[:4]), _seconds(m.groups()[4:8]), m[9]) for m in cue.finditer(vtt)]


def test_job_captions_show_the_users_words_not_the_normalised_ones(http: httpx.Client) -> None:
    """Word cues read "Dr." and "$3.50" (one cue each), sentence cues the text as written."""
    text = "Dr. Smith paid $3.50 on 12/25/2024. It was 5% off."
    body = {"chapters": [{"text": text}], "voice": ESPEAK, "format": "wav"}
    status = _wait(http, http.post("/api/v1/jobs", json=body).json()["id"])
    assert status["status"] == "done", status
    words = _word_cues(http, status["id"])
    assert [w for w, _, _ in words] == [
        "Dr.",
        "Smith",
        "paid",
        "$3.50",
        "on",
        "12/25/2024",
        "It",
        "was",
        "5%",
        "off",
    ]
    assert all(a < b for _, a, b in words)
    assert [t for _, _, t in _sentence_cues(http, status["id"])] == [
        "Dr. Smith paid $3.50 on 12/25/2024.",
        "It was 5% off.",
    ]


SSML_CHAPTERS = [
    {"text": '<speak>Dr. Smith paid $3.50.<break time="1500ms"/>Then he left.<foo>Odd tag.</foo></speak>'},
    {"text": '<speak><voice name="joe">Piper reads this.</voice> And espeak this.</speak>'},
    {"text": '<speak>Then he left.<break time="300ms"/><prosody rate="50%">Then he left.</prosody></speak>'},
]


def test_an_ssml_job_keeps_breaks_and_voice_switches_and_lists_what_it_ignored(http: httpx.Client) -> None:
    """ssml: true: the 1.5 s break is exact between the two sentences, <voice name="joe"> is spoken by
    piper, prosody rate 50% makes a sentence much slower, the unknown <foo> is listed in the status's
    ignored, captions keep "$3.50"."""
    body = {"chapters": SSML_CHAPTERS, "ssml": True, "voice": ESPEAK, "format": "wav"}
    response = http.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["ignored"] == ["ssml:foo"]
    status = _wait(http, response.json()["id"])
    assert status["status"] == "done", status
    assert status["engines"]["piper"] == 1
    assert set(status["engines"]) == {"espeak", "piper"}
    assert "ssml:foo" in status["ignored"]
    cues = _sentence_cues(http, status["id"])
    assert cues[0][2] == "Dr. Smith paid $3.50."
    assert cues[1][2].startswith("Then he left.")
    assert cues[1][0] - cues[0][1] == pytest.approx(1.5, abs=0.002)
    (normal_start, normal_end, _), (slow_start, slow_end, _) = cues[-2:]
    assert slow_start - normal_end == pytest.approx(0.3, abs=0.002)
    assert slow_end - slow_start > 1.6 * (normal_end - normal_start)
    words = [w for w, _, _ in _word_cues(http, status["id"])]
    assert words[:4] == ["Dr.", "Smith", "paid", "$3.50"]


def test_a_bad_ssml_chapter_refuses_the_whole_job_naming_it(http: httpx.Client) -> None:
    """The second chapter's malformed SSML → 422 naming chapters[1].text with its line and column; no
    job is stored (the first, good chapter is not run either)."""
    before = len(http.get("/api/v1/jobs").json()["jobs"])
    chapters = [{"text": "<speak>Fine.</speak>"}, {"text": "<speak>Broken\n<p>here</speak>"}]
    response = http.post("/api/v1/jobs", json={"chapters": chapters, "ssml": True})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "chapters[1].text"
    assert "line 2, column" in error["message"]
    assert len(http.get("/api/v1/jobs").json()["jobs"]) == before
    markdown = http.post("/api/v1/jobs", json={"text": "<speak>Hi.</speak>", "markdown": True, "ssml": True})
    assert markdown.status_code == 422
    assert markdown.json()["error"]["field"] == "markdown"


def test_a_lexicon_ipa_entry_is_spoken_in_jobs_as_on_the_native_route(http: httpx.Client) -> None:
    """With an ipa entry for "Zork" (a long word's phonemes), piper's job audio is as long as the native
    answer with the entry and over a second longer than without it."""
    ipa = "ˌsuːpɚkˌælɪfɹˌædʒɪlˌɪstɪkˌɛkspiːˌælɪdˈoʊʃəs"

    def native() -> float:
        spoken = http.post("/api/v1/tts", json={"text": "Zork.", "voice": "joe", "format": "wav"})
        audio, rate = decode(spoken.content, "wav")
        return len(audio) / rate

    without = native()
    assert http.put("/api/v1/lexicon", json={"entries": [{"word": "Zork", "ipa": ipa}]}).status_code == 200
    try:
        with_entry = native()
        body = {"chapters": [{"text": "Zork."}], "voice": "joe", "format": "wav"}
        status = _wait(http, http.post("/api/v1/jobs", json=body).json()["id"])
    finally:
        http.delete("/api/v1/lexicon")
    assert status["status"] == "done", status
    audio, rate = decode(http.get(f"/api/v1/jobs/{status['id']}/audio").content, "wav")
    assert with_entry > without + 1.0
    assert len(audio) / rate == pytest.approx(with_entry, abs=0.3)
    assert "ssml:phoneme" not in status["ignored"]
    assert [w for w, _, _ in _word_cues(http, status["id"])] == ["Zork"]
