"""Topics compiled: each configured topic's query and seed profiles, and one index of all.

The configuration holds texts and paths (monitor/config); here they become what a story is
matched with, once at load and again at each reload. `load` reads a configuration and
compiles its topics in one step, so a query or seed document that cannot serve is reported
at load with its key and file, like any other problem of the configuration.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from monitor import config as config_mod
from monitor.config import Config, ConfigError, Problem, TopicConfig
from monitor.topics.profile import Profile, ProfileIndex, SeedError, load_profile
from monitor.topics.query import Query, QueryError, QueryIndex, compile_query


@dataclass(frozen=True, slots=True)
class Topic:
    """A configured topic with its query and seed profiles compiled."""

    config: TopicConfig
    query: Query | None
    profile: Profile | None  # from the seeds
    exclude_profile: Profile | None  # from exclude_seeds
    # copied from `config` once: matching reads them for every topic of every story
    id: str = field(init=False)
    match: str = field(init=False)
    profile_threshold: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", self.config.id)
        object.__setattr__(self, "match", self.config.match)
        object.__setattr__(self, "profile_threshold", self.config.profile_threshold)


class Topics(tuple[Topic, ...]):
    """The compiled topics (a tuple), with their seed profiles in one index, so that a story
    is compared with every profile at once (monitor/topics/profile.py), their queries
    indexed by anchor words (monitor/topics/query.py), and by id."""

    profiles: ProfileIndex
    queries: QueryIndex
    by_id: dict[str, Topic]
    excluding: bool  # some topic has negative seeds

    def __new__(cls, topics: Iterable[Topic] = ()) -> Topics:
        self = super().__new__(cls, topics)
        self.profiles = ProfileIndex.build((t.id, t.profile) for t in self if t.profile)
        self.queries = QueryIndex.build([t.query for t in self])
        self.by_id = {t.id: t for t in self}
        self.excluding = any(t.exclude_profile is not None for t in self)
        return self


class Compiler:
    """Compiles queries and seed profiles, each once. As the `TopicTexts` of a load it
    reports what does not compile; what did is kept for `topics`."""

    def __init__(self) -> None:
        self._queries: dict[str, Query] = {}
        self._profiles: dict[tuple[Path, ...], Profile] = {}

    def query_problem(self, text: str) -> str | None:
        try:
            self.query(text)
        except QueryError as exc:
            return str(exc)
        return None

    def seeds_problem(self, files: Sequence[Path]) -> str | None:
        try:
            self.profile(files)
        except SeedError as exc:
            return str(exc)
        return None

    def query(self, text: str) -> Query:
        found = self._queries.get(text)
        if found is None:
            found = self._queries[text] = compile_query(text)
        return found

    def profile(self, files: Sequence[Path]) -> Profile | None:
        if not files:
            return None
        key = tuple(files)
        found = self._profiles.get(key)
        if found is None:
            found = self._profiles[key] = load_profile(key)
        return found

    def topic(self, topic: TopicConfig) -> Topic:
        query = self.query(topic.query) if topic.query is not None else None
        return Topic(topic, query, self.profile(topic.seeds), self.profile(topic.exclude_seeds))

    def topics(self, topics: Iterable[TopicConfig]) -> Topics:
        return Topics(self.topic(t) for t in topics)


class Settings:
    """The configuration in force and its compiled topics: the one object that holds them.
    A reload swaps both at once; whoever holds this object sees the new ones."""

    def __init__(self, config: Config, topics: Topics) -> None:
        self.config = config
        self.topics = topics

    @classmethod
    def of(cls, config: Config) -> Settings:
        """`config` with its topics compiled; a topic that does not compile is a
        ConfigError naming it (as `load` reports it)."""
        compiler = Compiler()
        problems = []
        for t in config.topics:
            if t.query is not None and (why := compiler.query_problem(t.query)) is not None:
                problems.append(Problem(str(config.source), f"topic {t.id}.query", why))
            for key, files in (("seeds", t.seeds), ("exclude_seeds", t.exclude_seeds)):
                if files and (why := compiler.seeds_problem(files)) is not None:
                    problems.append(Problem(str(config.source), f"topic {t.id}.{key}", why))
        if problems:
            raise ConfigError(problems)
        return cls(config, compiler.topics(config.topics))

    def swap(self, new: Settings) -> None:
        self.config, self.topics = new.config, new.topics


def load(path: str | os.PathLike[str]) -> Settings:
    """The configuration in `path` with its topics compiled; ConfigError with every problem
    (of the file, of a query, of seed documents) otherwise."""
    compiler = Compiler()
    config = config_mod.load(path, compiler)
    return Settings(config, compiler.topics(config.topics))
