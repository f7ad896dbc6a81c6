"""The evaluation runner on a tiny stream written for this test."""

import json
from pathlib import Path

from monitor.cli.evaluate import decide, main, read_stories, run

ROWS = [
    {
        "id": "1",
        "cluster_id": "SECRET",
        "published": "2024-01-02",
        "source": "a.test",
        "url": "https://a.test/1",
        "title": "Two men wounded outside Harlowe bar",
        "summary": "Two men were wounded early Saturday outside the Copper Kettle bar on Delancey "
        "Road in Harlowe, police said. Ravi Okonjo and Dale Pruitt were hospitalized.",
    },
    {
        "id": "2",
        "cluster_id": "SECRET",
        "published": "2024-01-02",
        "source": "b.test",
        "url": "https://b.test/2",
        "title": "Two men wounded outside Harlowe bar",
        "summary": "HARLOWE (AP) — Two men were wounded early Saturday outside the Copper Kettle "
        "bar on Delancey Road in Harlowe, police said. Ravi Okonjo and Dale Pruitt were "
        "hospitalized.",
    },
    {
        "id": "3",
        "cluster_id": "SECRET",
        "published": "2024-01-03",
        "source": "c.test",
        "url": "https://c.test/3",
        "title": "Woman killed at Ashby Falls party",
        "summary": "Lorna Whitcombe, 45, was killed Friday at a party on Windmere Court in Ashby "
        "Falls, the Pell County sheriff said.",
    },
]


def write(tmp_path: Path) -> Path:
    path = tmp_path / "stories.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS) + "\n", encoding="utf-8")
    return path


def test_run_writes_one_valid_decision_per_story(tmp_path: Path) -> None:
    out = tmp_path / "decisions.jsonl"
    seen: list[int] = []
    summary = run(write(tmp_path), out, progress=seen.append)
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [d["id"] for d in lines] == ["1", "2", "3"]
    for d in lines:
        assert set(d) == {"id", "new", "development", "duplicate_of"}
        assert isinstance(d["new"], bool)
        assert isinstance(d["development"], str)
    assert lines[0] == {"id": "1", "new": True, "development": "1", "duplicate_of": None}
    assert lines[1] == {"id": "2", "new": False, "development": "1", "duplicate_of": "1"}
    assert lines[2]["new"] and lines[2]["development"] == "3"
    assert summary["stories"] == 3 and summary["new"] == 2 and summary["duplicates"] == 1
    assert seen == [1, 2, 3]


def test_labels_are_never_read(tmp_path: Path) -> None:
    stories = list(read_stories(write(tmp_path)))
    assert all("SECRET" not in repr(st) for st in stories)
    assert stories[0].published.tzinfo is not None


def test_main_usage(tmp_path: Path) -> None:
    assert main(["evaluate"]) == 2
    assert main(["evaluate", str(write(tmp_path)), str(tmp_path / "o.jsonl")]) == 0


def test_monitor_evaluate_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    stories = tmp_path / "s.jsonl"
    stories.write_text(
        "".join(
            json.dumps({"id": f"s{i}", "published": "2026-11-2" + str(i), "source": "a.example",
                        "url": f"https://a.example/{i}", "title": f"Storm floods town {i}",
                        "summary": f"Rain flooded the town of Brookvale {i} on Monday."})
            + "\n"
            for i in range(3)
        )
    )  # fmt: skip
    out = tmp_path / "d.jsonl"
    res = subprocess.run(
        [sys.executable, "-m", "monitor", "evaluate", "--stories", str(stories), "--out",
         str(out)], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["stories"] == 3
    decisions = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["id"] for d in decisions] == ["s0", "s1", "s2"]
    assert all(set(d) == {"id", "new", "development", "duplicate_of"} for d in decisions)


def test_the_tracker_reads_headlines_without_the_site_name() -> None:
    from datetime import UTC, datetime

    from monitor.detect.developments import Assignment, DevelopmentTracker
    from monitor.stories.dedup import StoryText

    site = " - WXYZ Channel 7 Harlowe Valley News, Weather & Sports"
    when = datetime(2024, 1, 2, tzinfo=UTC)
    stories = [
        StoryText("a", when, "Two men wounded outside Harlowe bar" + site, ROWS[0]["summary"],
                  "a.test", "https://a.test/a"),
        StoryText("b", when, "Woman killed at Ashby Falls party" + site, ROWS[2]["summary"],
                  "a.test", "https://a.test/b"),
    ]  # fmt: skip
    given: list[str] = []

    class Recording(DevelopmentTracker):
        def assign(
            self, story: StoryText, *, duplicate_of: str | None = None, template: bool = False
        ) -> Assignment:
            given.append(story.title)
            return super().assign(story, duplicate_of=duplicate_of, template=template)

    decided = list(decide(stories, Recording()))
    assert given == [stories[0].title, "Woman killed at Ashby Falls party"]  # first sight kept
    assert [story.title for story, *_ in decided] == [s.title for s in stories]  # as published
