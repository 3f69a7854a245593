//! The Tusk CLI's mock matcher as pure code: which recorded span answers an outbound call
//! in replay, and the `GetMockResponse` the CLI sends for it.
//!
//! Mirrors tusk-cli at `5dc6dbc` (v0.2.13+1): `internal/runner/server.go` (`findMock`,
//! `LoadSpansForTrace`, `SetSuiteSpans`, `CleanupTraceSpans`, `loadSpansForTraceID`,
//! `spanToMockInteraction`), `internal/runner/mock_matcher.go` (the priorities, the guards,
//! the similarity ranking), `internal/runner/test_loading.go` and `suite_spans.go` (which
//! spans are a test's and which the suite's), and `internal/utils/{hash,importance}.go`
//! (the reduced hashes). Each function below names the Go function it mirrors.
//!
//! A [`Matcher`] is built once from the loaded trace files. Per test, [`Matcher::start_test`]
//! loads the test's spans (all unused again) and makes it the current test, and
//! [`Matcher::finish_test`] forgets them; [`Matcher::find`] answers one `GetMockRequest`.
//! The order of the search, "unused" before "used" at every step:
//!
//! | P | candidates | key |
//! |---|---|---|
//! | 1, 2 | the test's spans | the request's `inputValueHash` |
//! | 3, 4 | the test's spans | the CLI's reduced value hash |
//! | 5, 6 | the suite's spans with the same `isPreAppStart` | value hash, then reduced value hash |
//! | guard | psycopg/psycopg2/sqlalchemy `query` calls not pre-app-start stop here | |
//! | 7, 8 | the test's spans of the same package | schema hash + HTTP/GraphQL shape, similarity |
//! | 9, 10 | the same | reduced schema hash + the same guard |
//! | 12, 13 | the suite, same `isPreAppStart` (only without a test id, or pre-app-start) | value hash / reduced value hash, never marked used |
//! | 14, 15 | the suite's pre-app-start spans (pre-app-start requests only) | schema hash / reduced schema hash, similarity |
//!
//! The test's candidates are ordered by timestamp, oldest first; the suite's keep the order
//! the CLI builds them in (top-level pre-app-start spans, then every test's spans). This is
//! the CLI of a local run: suite-wide matching on (P5/P6 over every suite span), no cloud
//! global spans.
//!
//! Deliberate differences, none visible on a sequential run: where Go sorts with an
//! unstable sort, equal timestamps keep file order here; the similarity of two objects sums
//! its per-key scores in key order, where Go's map order varies (the last bits of a score
//! can differ in Go from run to run); the whole lookup runs under one lock, where the CLI
//! takes its lock per step (two concurrent requests cannot both take the same unused span
//! here); a test id is looked up only among the files the matcher was built from (the CLI
//! also looks in its other trace directories).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::gojson;
use crate::read::{Schema, Span};
use crate::schema::hex;

/// How the CLI found a mock (upstream `MatchType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchType {
    /// `MATCH_TYPE_INPUT_VALUE_HASH` (1).
    InputValueHash = 1,
    /// `MATCH_TYPE_INPUT_VALUE_HASH_REDUCED_SCHEMA` (2).
    InputValueHashReducedSchema = 2,
    /// `MATCH_TYPE_INPUT_SCHEMA_HASH` (3).
    InputSchemaHash = 3,
    /// `MATCH_TYPE_INPUT_SCHEMA_HASH_REDUCED_SCHEMA` (4).
    InputSchemaHashReducedSchema = 4,
}

/// Where the CLI found a mock (upstream `MatchScope`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchScope {
    /// `MATCH_SCOPE_TRACE` (1): in the test's own trace.
    Trace = 1,
    /// `MATCH_SCOPE_GLOBAL` (2): across the suite.
    Global = 2,
}

/// Upstream `MatchLevel`: how a mock was found.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchLevel {
    /// What matched.
    pub match_type: MatchType,
    /// Where.
    pub match_scope: MatchScope,
    /// The CLI's words, e.g. `Unused span by input value hash`.
    pub description: String,
    /// The winner's similarity score, when several candidates were ranked.
    pub similarity_score: Option<f32>,
    /// Up to 5 runners-up of that ranking: span id and score.
    pub top_candidates: Vec<(String, f32)>,
}

impl MatchLevel {
    fn new(match_type: MatchType, match_scope: MatchScope, description: &str) -> Self {
        Self {
            match_type,
            match_scope,
            description: description.to_owned(),
            similarity_score: None,
            top_candidates: Vec::new(),
        }
    }
}

/// One trace file as loaded: its path relative to the traces directory (`/`-separated;
/// a file directly in it has no `/`) and its spans as [`crate::read::parse_spans`] read them.
#[derive(Clone, Debug, Default)]
pub struct TraceFile {
    /// Relative path, e.g. `2026-12-01T14-37-00-123456Z_trace_4bf9....jsonl`.
    pub path: String,
    /// Every span of the file, in file order.
    pub spans: Vec<Span>,
}

/// The fields of a `GetMockRequest` the CLI reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MockRequest {
    /// `test_id`; "" means the current test ([`Matcher::start_test`]).
    pub test_id: String,
    /// `operation`, only used in the "no mock found" text.
    pub operation: String,
    /// `outbound_span.package_name`.
    pub package_name: String,
    /// `outbound_span.submodule_name`.
    pub submodule_name: String,
    /// `outbound_span.name`.
    pub name: String,
    /// `outbound_span.input_value`.
    pub input_value: Option<Map<String, Value>>,
    /// `outbound_span.input_schema`.
    pub input_schema: Option<Schema>,
    /// `outbound_span.input_value_hash`.
    pub input_value_hash: String,
    /// `outbound_span.input_schema_hash`.
    pub input_schema_hash: String,
    /// `outbound_span.is_pre_app_start`.
    pub is_pre_app_start: bool,
}

/// The CLI's answer: a `GetMockResponse` without its `request_id` (the envelope's, which
/// the caller copies in).
#[derive(Clone, Debug, PartialEq)]
pub struct MockResponse {
    /// `found`.
    pub found: bool,
    /// `error`, as the CLI words it, when not found.
    pub error: String,
    /// `match_level`, when found.
    pub match_level: Option<MatchLevel>,
    /// `response_data`: `{"response": MockInteraction}`, the recorded `outputValue` at
    /// `response.response.body`.
    pub response_data: Option<Map<String, Value>>,
    /// The recorded span that answered (trace id, span id): not sent, for reports.
    pub matched: Option<(String, String)>,
}

impl MockResponse {
    fn not_found(error: String) -> Self {
        Self {
            found: false,
            error,
            match_level: None,
            response_data: None,
            matched: None,
        }
    }
}

/// A similarity ranking's winner (span index), its score and up to 5 runners-up.
type Ranked = (usize, f64, Vec<(usize, f64)>);

/// A recorded span with what the CLI computes for it once, when it indexes it.
#[derive(Debug)]
struct Indexed {
    span: Span,
    /// `reducedInputValueHash`.
    reduced_value_hash: String,
    /// `reducedInputSchemaHash`.
    reduced_schema_hash: String,
    /// The timestamp in nanoseconds, `None` without one.
    time: Option<i128>,
}

/// A test's spans, indexed as `LoadSpansForTrace` does (each list oldest first).
#[derive(Debug, Default)]
struct Loaded {
    by_package: HashMap<String, Vec<usize>>,
    by_value_hash: HashMap<String, Vec<usize>>,
    by_reduced_value_hash: HashMap<String, Vec<usize>>,
}

/// The suite's spans, indexed as `SetSuiteSpans` does (in suite order).
#[derive(Debug, Default)]
struct Suite {
    len: usize,
    by_value_hash: HashMap<String, Vec<usize>>,
    by_reduced_value_hash: HashMap<String, Vec<usize>>,
    by_schema_hash: HashMap<String, Vec<usize>>,
    by_reduced_schema_hash: HashMap<String, Vec<usize>>,
}

#[derive(Debug, Default)]
struct State {
    /// `currentTestID`.
    current_test: String,
    /// `spans` and its indexes, per test id.
    loaded: HashMap<String, Loaded>,
    /// `spanUsage`: trace id → span id → used.
    usage: HashMap<String, HashMap<String, bool>>,
}

impl State {
    /// `isUnused`: unused unless marked used.
    fn is_unused(&self, span: &Span) -> bool {
        !self
            .usage
            .get(&span.trace_id)
            .and_then(|spans| spans.get(&span.span_id))
            .copied()
            .unwrap_or(false)
    }

    /// `markSpanAsUsed`.
    fn mark_used(&mut self, span: &Span) {
        self.usage
            .entry(span.trace_id.clone())
            .or_default()
            .insert(span.span_id.clone(), true);
    }
}

/// The CLI's mock server state for one replay run: every recorded span, the tests, the
/// suite, and which spans were served. Shareable between threads: every method takes
/// `&self` and one internal lock, held for a whole lookup.
#[derive(Debug)]
pub struct Matcher {
    spans: Vec<Indexed>,
    /// Test id → the spans of its file (`LoadTestFromTraceFile`), in walk order.
    tests: Vec<(String, Vec<usize>)>,
    /// Top-level files (`*trace*.jsonl`), sorted: where `loadSpansForTraceID` looks.
    top_level: Vec<(String, Vec<usize>)>,
    suite: Suite,
    state: Mutex<State>,
}

impl Matcher {
    /// Indexes `files` as the CLI loads a traces directory: every file is walked in
    /// `filepath.Walk` order; a file with a root span is a test whose id is that span's
    /// trace id and whose candidates are all the file's spans (`LoadTestFromTraceFile`);
    /// the suite is every pre-app-start span of the top-level `*trace*.jsonl` files
    /// (`FetchLocalPreAppStartSpans`) followed by every test's spans, without duplicate
    /// (trace id, span id) pairs (`BuildSuiteSpansForRun`, `DedupeSpans`). When two files
    /// have the same test id, the first one's spans are that test's.
    pub fn new(mut files: Vec<TraceFile>) -> Matcher {
        // filepath.Walk visits a directory's entries sorted by name.
        files.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
        let mut spans = Vec::new();
        let mut tests: Vec<(String, Vec<usize>)> = Vec::new();
        let mut top_level = Vec::new();
        let mut pre_app_start = Vec::new();
        let mut seen_pre_app_start = HashSet::new();
        for file in files {
            let first = spans.len();
            spans.extend(file.spans.into_iter().map(Indexed::new));
            let indices: Vec<usize> = (first..spans.len()).collect();
            let name = file.path.rsplit('/').next().unwrap_or_default();
            let is_top_level = !file.path.contains('/');
            if is_top_level && name.contains("trace") && name.ends_with(".jsonl") {
                for &index in &indices {
                    let span = &spans[index].span;
                    if span.is_pre_app_start
                        && seen_pre_app_start.insert((span.trace_id.clone(), span.span_id.clone()))
                    {
                        pre_app_start.push(index);
                    }
                }
                top_level.push((name.to_owned(), indices.clone()));
            }
            if file.path.ends_with(".jsonl")
                && let Some(root) = indices
                    .iter()
                    .find(|&&index| spans[index].span.is_root_span)
            {
                tests.push((spans[*root].span.trace_id.clone(), indices));
            }
        }
        top_level.sort_by(|a, b| a.0.cmp(&b.0));
        let mut suite_spans = pre_app_start;
        suite_spans.extend(
            tests
                .iter()
                .flat_map(|(_, indices)| indices.iter().copied()),
        );
        let suite = Suite::new(&spans, dedupe(&spans, suite_spans));
        Matcher {
            spans,
            tests,
            top_level,
            suite,
            state: Mutex::new(State::default()),
        }
    }

    /// The tests, in the order the CLI loads them (one per file with a root span).
    pub fn test_ids(&self) -> impl Iterator<Item = &str> {
        self.tests.iter().map(|(id, _)| id.as_str())
    }

    /// How many spans the suite holds.
    pub fn suite_len(&self) -> usize {
        self.suite.len
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while the lock is held; a poisoned lock still holds consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the CLI does as it starts replaying test `test_id` (`RunSingleTest`): its spans
    /// are loaded and all unused again (`LoadSpansForTrace`), and it becomes the current
    /// test, the one a request with an empty test id is matched against. An unknown id only
    /// becomes the current test.
    pub fn start_test(&self, test_id: &str) {
        let mut state = self.lock();
        if let Some((_, indices)) = self.tests.iter().find(|(id, _)| id == test_id) {
            self.load(&mut state, test_id, indices);
        }
        state.current_test = test_id.to_owned();
    }

    /// What the CLI does when test `test_id` is done: no current test any more (if it was
    /// the current one; the CLI clears it unconditionally, which only differs when tests
    /// overlap), and the test's spans and their usage forgotten (`CleanupTraceSpans`).
    pub fn finish_test(&self, test_id: &str) {
        let mut state = self.lock();
        if state.current_test == test_id {
            state.current_test.clear();
        }
        state.loaded.remove(test_id);
        state.usage.remove(test_id);
    }

    /// `LoadSpansForTrace`: usage reset under the test id, indexes built and sorted.
    fn load(&self, state: &mut State, test_id: &str, indices: &[usize]) {
        let usage = state.usage.entry(test_id.to_owned()).or_default();
        for &index in indices {
            usage.insert(self.spans[index].span.span_id.clone(), false);
        }
        let mut loaded = Loaded::default();
        for &index in indices {
            let indexed = &self.spans[index];
            loaded
                .by_package
                .entry(indexed.span.package_name.clone())
                .or_default()
                .push(index);
            if !indexed.span.input_value_hash.is_empty() {
                loaded
                    .by_value_hash
                    .entry(indexed.span.input_value_hash.clone())
                    .or_default()
                    .push(index);
            }
            if !indexed.reduced_value_hash.is_empty() {
                loaded
                    .by_reduced_value_hash
                    .entry(indexed.reduced_value_hash.clone())
                    .or_default()
                    .push(index);
            }
        }
        for list in loaded
            .by_package
            .values_mut()
            .chain(loaded.by_value_hash.values_mut())
            .chain(loaded.by_reduced_value_hash.values_mut())
        {
            self.sort_oldest_first(list);
        }
        state.loaded.insert(test_id.to_owned(), loaded);
    }

    /// `sortSpansByTimestamp`: oldest first, spans without a timestamp before the others
    /// (by span id among themselves). Stable, where Go's `sort.Slice` is not.
    fn sort_oldest_first(&self, list: &mut [usize]) {
        list.sort_by(|&a, &b| {
            let (a, b) = (&self.spans[a], &self.spans[b]);
            match (a.time, b.time) {
                (None, None) => a.span.span_id.cmp(&b.span.span_id),
                (None, Some(_)) => std::cmp::Ordering::Less,
                (Some(_), None) => std::cmp::Ordering::Greater,
                (Some(x), Some(y)) => x.cmp(&y),
            }
        });
    }

    /// `loadSpansForTraceID`: the first top-level `*trace*<id>*.jsonl` file (by name)
    /// holding spans of trace `test_id`, those spans only.
    fn load_lazily(&self, state: &mut State, test_id: &str) -> Result<(), String> {
        for (name, indices) in &self.top_level {
            if !glob_trace_id(name, test_id) {
                continue;
            }
            let spans: Vec<usize> = indices
                .iter()
                .copied()
                .filter(|&index| self.spans[index].span.trace_id == test_id)
                .collect();
            if !spans.is_empty() {
                self.load(state, test_id, &spans);
                return Ok(());
            }
        }
        Err(format!("no trace file found for trace ID {test_id}"))
    }

    /// `findMock`: the answer to one `GetMockRequest`. Marks the span it serves as used
    /// where the CLI does.
    pub fn find(&self, request: &MockRequest) -> MockResponse {
        let mut state = self.lock();
        let test_id = if request.test_id.is_empty() {
            state.current_test.clone()
        } else {
            request.test_id.clone()
        };
        let keys = RequestKeys::new(request);
        let mut found = None;
        // Go formats a nil error as `<nil>`: a request without a test id that nothing
        // matches says so.
        let mut trace_error = "<nil>";
        if !test_id.is_empty() {
            if !state.loaded.contains_key(&test_id)
                && let Err(error) = self.load_lazily(&mut state, &test_id)
            {
                return MockResponse::not_found(format!(
                    "failed to load spans for trace {test_id}: {error}"
                ));
            }
            found = self.find_in_trace(&mut state, &keys, &test_id);
            if found.is_none() {
                trace_error = "no matching span found";
            }
        }
        if found.is_none() && (test_id.is_empty() || request.is_pre_app_start) && self.suite.len > 0
        {
            found = self.find_across_traces(&mut state, &keys);
        }
        let Some((index, match_level)) = found else {
            return MockResponse::not_found(format!(
                "no mock found for {} {}: {trace_error}",
                request.operation, request.name
            ));
        };
        let span = &self.spans[index].span;
        let Some(response_data) = mock_interaction(span) else {
            return MockResponse::not_found("failed to serialize mock response".to_owned());
        };
        MockResponse {
            found: true,
            error: String::new(),
            match_level: Some(match_level),
            response_data: Some(response_data),
            matched: Some((span.trace_id.clone(), span.span_id.clone())),
        }
    }

    /// `runPriorityMatchingWithTraceSpans` (via `FindBestMatchWithTracePriority`):
    /// priorities 1 to 10.
    fn find_in_trace(
        &self,
        state: &mut State,
        keys: &RequestKeys<'_>,
        test_id: &str,
    ) -> Option<(usize, MatchLevel)> {
        use MatchScope::{Global, Trace};
        use MatchType::{
            InputSchemaHash, InputSchemaHashReducedSchema, InputValueHash,
            InputValueHashReducedSchema,
        };
        let lookup =
            |state: &State, pick: &dyn Fn(&Loaded) -> &HashMap<String, Vec<usize>>, key: &str| {
                state
                    .loaded
                    .get(test_id)
                    .and_then(|loaded| pick(loaded).get(key))
                    .cloned()
                    .unwrap_or_default()
            };
        let request = keys.request;
        // Priorities 1 to 4.
        for (reduced, match_type, [unused, used]) in [
            (
                false,
                InputValueHash,
                [
                    "Unused span by input value hash",
                    "Used span by input value hash",
                ],
            ),
            (
                true,
                InputValueHashReducedSchema,
                [
                    "Unused span by input value hash with reduced schema",
                    "Used span by input value hash with reduced schema",
                ],
            ),
        ] {
            let candidates = if reduced {
                lookup(
                    state,
                    &|loaded| &loaded.by_reduced_value_hash,
                    keys.reduced_value(),
                )
            } else {
                lookup(
                    state,
                    &|loaded| &loaded.by_value_hash,
                    &request.input_value_hash,
                )
            };
            if let Some(found) = self.first_unused_then_used(state, &candidates, true) {
                let description = if found.1 { unused } else { used };
                return Some((found.0, MatchLevel::new(match_type, Trace, description)));
            }
        }
        // Priorities 5 and 6, suite-wide (a local run).
        for (reduced, match_type, [unused, used]) in [
            (
                false,
                InputValueHash,
                [
                    "Suite unused span by input value hash",
                    "Suite used span by input value hash",
                ],
            ),
            (
                true,
                InputValueHashReducedSchema,
                [
                    "Suite unused span by reduced input value hash",
                    "Suite used span by reduced input value hash",
                ],
            ),
        ] {
            let candidates = if reduced {
                self.suite.by_reduced_value_hash.get(keys.reduced_value())
            } else {
                self.suite.by_value_hash.get(&request.input_value_hash)
            };
            let candidates = self.same_pre_app_start(candidates, request.is_pre_app_start);
            if let Some(found) = self.first_unused_then_used(state, &candidates, true) {
                let description = if found.1 { unused } else { used };
                return Some((found.0, MatchLevel::new(match_type, Global, description)));
            }
        }
        if skips_schema_matching(request) {
            return None;
        }
        // Priorities 7 to 10 over the test's spans of the same package, oldest first.
        let by_package = lookup(state, &|loaded| &loaded.by_package, &request.package_name);
        let reduced_target = keys.reduced_schema();
        let schema_steps: [(bool, bool, MatchType, &str); 4] = [
            (
                true,
                false,
                InputSchemaHash,
                "Unused span by input schema hash",
            ),
            (
                false,
                false,
                InputSchemaHash,
                "Used span by input schema hash",
            ),
            (
                true,
                true,
                InputSchemaHashReducedSchema,
                "Unused span by reduced input schema hash",
            ),
            (
                false,
                true,
                InputSchemaHashReducedSchema,
                "Used span by reduced input schema hash",
            ),
        ];
        for (unused, reduced, match_type, description) in schema_steps {
            if reduced && reduced_target.is_empty() {
                continue;
            }
            let candidates: Vec<usize> = by_package
                .iter()
                .copied()
                .filter(|&index| {
                    let indexed = &self.spans[index];
                    state.is_unused(&indexed.span) == unused
                        && (!reduced || indexed.reduced_schema_hash == reduced_target)
                        && schema_match_with_http_shape(request, &indexed.span)
                })
                .collect();
            if let Some((index, level)) = self.pick(
                state,
                request,
                &candidates,
                unused,
                match_type,
                Trace,
                description,
            ) {
                state.mark_used(&self.spans[index].span);
                return Some((index, level));
            }
        }
        None
    }

    /// `FindBestMatchAcrossTraces`: priorities 12 to 15 over the suite.
    fn find_across_traces(
        &self,
        state: &mut State,
        keys: &RequestKeys<'_>,
    ) -> Option<(usize, MatchLevel)> {
        use MatchScope::Global;
        use MatchType::{
            InputSchemaHash, InputSchemaHashReducedSchema, InputValueHash,
            InputValueHashReducedSchema,
        };
        let request = keys.request;
        // Priorities 12 and 13 do not mark the span used.
        for (reduced, match_type, [unused, used]) in [
            (
                false,
                InputValueHash,
                [
                    "Suite unused span by input value hash",
                    "Suite used span by input value hash",
                ],
            ),
            (
                true,
                InputValueHashReducedSchema,
                [
                    "Suite unused span by input value hash with reduced schema",
                    "Suite used span by input value hash with reduced schema",
                ],
            ),
        ] {
            let candidates = if reduced {
                self.suite.by_reduced_value_hash.get(keys.reduced_value())
            } else {
                self.suite.by_value_hash.get(&request.input_value_hash)
            };
            let candidates = self.same_pre_app_start(candidates, request.is_pre_app_start);
            if let Some(found) = self.first_unused_then_used(state, &candidates, false) {
                let description = if found.1 { unused } else { used };
                return Some((found.0, MatchLevel::new(match_type, Global, description)));
            }
        }
        if !request.is_pre_app_start {
            return None;
        }
        let schema_steps = [
            (
                self.suite.by_schema_hash.get(&request.input_schema_hash),
                InputSchemaHash,
                [
                    "Suite unused span by input schema hash",
                    "Suite used span by input schema hash",
                ],
            ),
            (
                self.suite.by_reduced_schema_hash.get(keys.reduced_schema()),
                InputSchemaHashReducedSchema,
                [
                    "Suite unused span by reduced schema hash",
                    "Suite used span by reduced schema hash",
                ],
            ),
        ];
        for (candidates, match_type, descriptions) in schema_steps {
            let candidates = self.same_pre_app_start(candidates, true);
            for (unused, description) in [(true, descriptions[0]), (false, descriptions[1])] {
                let filtered: Vec<usize> = candidates
                    .iter()
                    .copied()
                    .filter(|&index| state.is_unused(&self.spans[index].span) == unused)
                    .collect();
                if filtered.is_empty() {
                    continue;
                }
                if let Some((index, score, _)) =
                    self.best_by_similarity(state, request, &filtered, unused)
                {
                    state.mark_used(&self.spans[index].span);
                    let description = format!("{description} (similarity: {score:.2})");
                    return Some((index, MatchLevel::new(match_type, Global, &description)));
                }
            }
        }
        None
    }

    /// `filterByPreAppStart`.
    fn same_pre_app_start(
        &self,
        candidates: Option<&Vec<usize>>,
        pre_app_start: bool,
    ) -> Vec<usize> {
        candidates
            .into_iter()
            .flatten()
            .copied()
            .filter(|&index| self.spans[index].span.is_pre_app_start == pre_app_start)
            .collect()
    }

    /// `findFirstUnused`, then `findFirstUsed`: the span and whether it was unused.
    fn first_unused_then_used(
        &self,
        state: &mut State,
        candidates: &[usize],
        mark: bool,
    ) -> Option<(usize, bool)> {
        let found = [true, false].into_iter().find_map(|unused| {
            candidates
                .iter()
                .copied()
                .find(|&index| state.is_unused(&self.spans[index].span) == unused)
                .map(|index| (index, unused))
        })?;
        if mark {
            state.mark_used(&self.spans[found.0].span);
        }
        Some(found)
    }

    /// `find{Unused,Used}SpanBy{,Reduced}InputSchemaHash` after filtering, and
    /// `buildMatchLevelWithSimilarity`: one candidate wins outright, several are ranked.
    #[allow(clippy::too_many_arguments)]
    fn pick(
        &self,
        state: &State,
        request: &MockRequest,
        candidates: &[usize],
        unused: bool,
        match_type: MatchType,
        match_scope: MatchScope,
        description: &str,
    ) -> Option<(usize, MatchLevel)> {
        match candidates {
            [] => None,
            [only] => Some((*only, MatchLevel::new(match_type, match_scope, description))),
            _ => {
                let (best, score, runners_up) =
                    self.best_by_similarity(state, request, candidates, unused)?;
                let mut level = MatchLevel::new(match_type, match_scope, description);
                level.similarity_score = Some(score as f32);
                level.description = match runners_up.first() {
                    Some((_, next)) => {
                        format!("{description} (similarity: {score:.2}, next best: {next:.2})")
                    }
                    None => format!("{description} (similarity: {score:.2})"),
                };
                level.top_candidates = runners_up
                    .into_iter()
                    .map(|(index, score)| (self.spans[index].span.span_id.clone(), score as f32))
                    .collect();
                Some((best, level))
            }
        }
    }

    /// `findBestMatchBySimilarity`: the first 50 candidates still in the wanted usage
    /// state, scored, best first (ties: oldest, then span id); the winner, its score and up
    /// to 5 runners-up.
    fn best_by_similarity(
        &self,
        state: &State,
        request: &MockRequest,
        candidates: &[usize],
        unused: bool,
    ) -> Option<Ranked> {
        let mut scored: Vec<(usize, f64)> = candidates
            .iter()
            .take(50)
            .copied()
            .filter(|&index| state.is_unused(&self.spans[index].span) == unused)
            .map(|index| {
                let recorded = self.spans[index].span.input_value.as_ref();
                let score = match (request.input_value.as_ref(), recorded) {
                    (None, None) => 1.0,
                    (Some(a), Some(b)) => compare_maps(a, b, 0),
                    _ => 0.0,
                };
                (index, score)
            })
            .collect();
        scored.sort_by(|&(a, score_a), &(b, score_b)| {
            score_b
                .partial_cmp(&score_a)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| {
                    let (a, b) = (&self.spans[a], &self.spans[b]);
                    match (a.time, b.time) {
                        (None, None) => a.span.span_id.cmp(&b.span.span_id),
                        (None, Some(_)) => std::cmp::Ordering::Less,
                        (Some(_), None) => std::cmp::Ordering::Greater,
                        (Some(x), Some(y)) => x.cmp(&y),
                    }
                })
        });
        let mut scored = scored.into_iter();
        let (best, score) = scored.next()?;
        Some((best, score, scored.take(5).collect()))
    }
}

impl Indexed {
    fn new(span: Span) -> Indexed {
        Indexed {
            reduced_value_hash: reduced_value_hash(
                span.input_value.as_ref(),
                span.input_schema.as_ref(),
            ),
            reduced_schema_hash: reduced_schema_hash(span.input_schema.as_ref()),
            time: span
                .timestamp
                .map(|(seconds, nanos)| i128::from(seconds) * 1_000_000_000 + i128::from(nanos)),
            span,
        }
    }
}

impl Suite {
    /// `SetSuiteSpans`.
    fn new(spans: &[Indexed], suite: Vec<usize>) -> Suite {
        let mut index = Suite {
            len: suite.len(),
            ..Suite::default()
        };
        for position in suite {
            let indexed = &spans[position];
            for (map, key) in [
                (&mut index.by_value_hash, &indexed.span.input_value_hash),
                (
                    &mut index.by_reduced_value_hash,
                    &indexed.reduced_value_hash,
                ),
                (&mut index.by_schema_hash, &indexed.span.input_schema_hash),
                (
                    &mut index.by_reduced_schema_hash,
                    &indexed.reduced_schema_hash,
                ),
            ] {
                if !key.is_empty() {
                    map.entry(key.clone()).or_default().push(position);
                }
            }
        }
        index
    }
}

/// `DedupeSpans`: the first of each (trace id, span id) pair; spans missing either id are
/// all kept.
fn dedupe(spans: &[Indexed], suite: Vec<usize>) -> Vec<usize> {
    let mut seen = HashSet::new();
    suite
        .into_iter()
        .filter(|&index| {
            let span = &spans[index].span;
            span.trace_id.is_empty()
                || span.span_id.is_empty()
                || seen.insert((span.trace_id.as_str(), span.span_id.as_str()))
        })
        .collect()
}

/// Whether `name` matches the glob `*trace*<id>*.jsonl` (`loadSpansForTraceID`).
fn glob_trace_id(name: &str, id: &str) -> bool {
    let Some(stem) = name.strip_suffix(".jsonl") else {
        return false;
    };
    stem.find("trace")
        .is_some_and(|at| stem[at + "trace".len()..].contains(id))
}

/// `shouldSkipSchemaFallbackMatching`: the psycopg guard.
fn skips_schema_matching(request: &MockRequest) -> bool {
    if request.is_pre_app_start {
        return false;
    }
    let package = request.package_name.to_lowercase();
    if !matches!(package.as_str(), "psycopg2" | "psycopg" | "sqlalchemy") {
        return false;
    }
    request.submodule_name.to_lowercase() == "query"
        || request.name.to_lowercase().ends_with(".query")
}

// ---------------------------------------------------------------------------------------
// Reduced hashes (`internal/utils/{hash,importance}.go`).
// ---------------------------------------------------------------------------------------

/// `reducedInputValueHash` / `reducedRequestValueHash`: "" without a value or a schema.
pub fn reduced_value_hash(value: Option<&Map<String, Value>>, schema: Option<&Schema>) -> String {
    let (Some(value), Some(schema)) = (value, schema) else {
        return String::new();
    };
    let mut reduced = Map::new();
    for (key, field) in value {
        let field_schema = schema.properties.get(key);
        if importance(field_schema) != 0 {
            reduced.insert(key.clone(), reduce(field, field_schema));
        }
    }
    go_hash(&Value::Object(reduced))
}

/// A request and the keys the lookups need beyond its own hashes, each computed the first
/// time a priority asks for it, once for the whole lookup: most requests match by their
/// exact value hash, and hashing the reduced value is most of a lookup's work.
struct RequestKeys<'a> {
    request: &'a MockRequest,
    reduced_value: std::cell::OnceCell<String>,
    reduced_schema: std::cell::OnceCell<String>,
}

impl<'a> RequestKeys<'a> {
    fn new(request: &'a MockRequest) -> Self {
        Self {
            request,
            reduced_value: std::cell::OnceCell::new(),
            reduced_schema: std::cell::OnceCell::new(),
        }
    }

    /// The request's reduced schema hash (`reducedRequestSchemaHash`): "" without a schema.
    fn reduced_schema(&self) -> &str {
        self.reduced_schema
            .get_or_init(|| reduced_schema_hash(self.request.input_schema.as_ref()))
    }

    /// The request's value hash with its reduced schema (its matchImportance-0 fields out).
    fn reduced_value(&self) -> &str {
        self.reduced_value.get_or_init(|| {
            reduced_value_hash(
                self.request.input_value.as_ref(),
                self.request.input_schema.as_ref(),
            )
        })
    }
}

/// `reducedInputSchemaHash` / `reducedRequestSchemaHash`: "" without a schema.
pub fn reduced_schema_hash(schema: Option<&Schema>) -> String {
    let Some(schema) = schema else {
        return String::new();
    };
    let mut text = String::new();
    marshal_reduced_schema(schema, &mut text);
    let mut hasher = Sha256::new();
    hasher.update(text.as_bytes());
    hex(&hasher.finalize())
}

/// `getImportance`: 0 only for a node whose `matchImportance` is exactly 0.
fn importance(schema: Option<&Schema>) -> u8 {
    match schema {
        Some(schema) if schema.is_ignored() => 0,
        _ => 1,
    }
}

/// `reduce` of `ReduceByMatchImportance`.
fn reduce(value: &Value, schema: Option<&Schema>) -> Value {
    let Some(schema) = schema else {
        return value.clone();
    };
    match value {
        Value::Null => Value::Null,
        Value::Object(map) => Value::Object(
            map.iter()
                .filter_map(|(key, field)| {
                    let field_schema = schema.properties.get(key);
                    (importance(field_schema) != 0)
                        .then(|| (key.clone(), reduce(field, field_schema)))
                })
                .collect(),
        ),
        Value::Array(items) => {
            let item_schema = schema.items.as_deref();
            if importance(item_schema) == 0 {
                return Value::Array(Vec::new());
            }
            Value::Array(items.iter().map(|item| reduce(item, item_schema)).collect())
        }
        _ if schema.is_ignored() => Value::Null,
        primitive => primitive.clone(),
    }
}

/// `GenerateDeterministicHash` of a value: null map values dropped at every level
/// (`normalizeForHashing`), then `json.Marshal` and SHA-256.
fn go_hash(value: &Value) -> String {
    let mut text = String::new();
    marshal_without_null_fields(value, &mut text);
    let mut hasher = Sha256::new();
    hasher.update(text.as_bytes());
    hex(&hasher.finalize())
}

fn marshal_without_null_fields(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().filter(|key| !map[*key].is_null()).collect();
            keys.sort_unstable();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                gojson::marshal_string(key, out);
                out.push(':');
                marshal_without_null_fields(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                marshal_without_null_fields(item, out);
            }
            out.push(']');
        }
        scalar => gojson::marshal(scalar, out),
    }
}

/// `json.Marshal` of `ReduceSchemaByMatchImportance(schema)`: the Go struct's fields in
/// declaration order with `omitempty` (`type`, `properties`, `items`, `encoding`,
/// `decoded_type`, `match_importance`); `null` when the root itself is ignored.
fn marshal_reduced_schema(schema: &Schema, out: &mut String) {
    if schema.is_ignored() {
        out.push_str("null");
        return;
    }
    let mut fields: Vec<String> = Vec::new();
    if schema.r#type != 0 {
        fields.push(format!("\"type\":{}", schema.r#type));
    }
    let mut keys: Vec<&String> = schema
        .properties
        .iter()
        .filter(|(_, child)| !child.is_ignored())
        .map(|(key, _)| key)
        .collect();
    if !keys.is_empty() {
        keys.sort_unstable();
        let mut properties = String::from("\"properties\":{");
        for (index, key) in keys.into_iter().enumerate() {
            if index > 0 {
                properties.push(',');
            }
            gojson::marshal_string(key, &mut properties);
            properties.push(':');
            marshal_reduced_schema(&schema.properties[key], &mut properties);
        }
        properties.push('}');
        fields.push(properties);
    }
    if let Some(items) = schema.items.as_deref().filter(|items| !items.is_ignored()) {
        let mut text = String::from("\"items\":");
        marshal_reduced_schema(items, &mut text);
        fields.push(text);
    }
    if let Some(encoding) = schema.encoding {
        fields.push(format!("\"encoding\":{encoding}"));
    }
    if let Some(decoded_type) = schema.decoded_type {
        fields.push(format!("\"decoded_type\":{decoded_type}"));
    }
    if let Some(importance) = schema.match_importance {
        let mut text = String::from("\"match_importance\":");
        gojson::marshal_float(importance, &mut text);
        fields.push(text);
    }
    out.push('{');
    out.push_str(&fields.join(","));
    out.push('}');
}

// ---------------------------------------------------------------------------------------
// The HTTP and GraphQL shape guard (`schemaMatchWithHttpShape`).
// ---------------------------------------------------------------------------------------

/// `schemaMatchWithHttpShape`: equal schema hashes, then the GraphQL guard (any package),
/// then for recorded `http`/`https` spans the same method, host, path and query keys.
fn schema_match_with_http_shape(request: &MockRequest, span: &Span) -> bool {
    if span.input_schema_hash != request.input_schema_hash {
        return false;
    }
    let Some(request_map) = request.input_value.as_ref() else {
        return false;
    };
    let empty = Map::new();
    let span_map = span.input_value.as_ref().unwrap_or(&empty);
    let request_query = normalize_graphql(&graphql_query(request_map));
    let span_query = normalize_graphql(&graphql_query(span_map));
    if !request_query.is_empty() && !span_query.is_empty() && request_query != span_query {
        return false;
    }
    if span.package_name != "http" && span.package_name != "https" {
        return true;
    }
    if let (Some(Value::String(a)), Some(Value::String(b))) =
        (request_map.get("method"), span_map.get("method"))
        && a != b
    {
        return false;
    }
    let (request_host, span_host) = (host(request_map), host(span_map));
    if !request_host.is_empty() && !span_host.is_empty() && request_host != span_host {
        return false;
    }
    let (request_path, request_keys) = path_and_query_keys(request_map);
    let (span_path, span_keys) = path_and_query_keys(span_map);
    if !request_path.is_empty() && !span_path.is_empty() && request_path != span_path {
        return false;
    }
    request_keys == span_keys
}

fn non_empty_string<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
}

/// `extractHost`: `hostname`, else the host of `url`.
fn host(map: &Map<String, Value>) -> String {
    if let Some(hostname) = non_empty_string(map, "hostname") {
        return hostname.to_owned();
    }
    non_empty_string(map, "url")
        .and_then(parse_url)
        .map(|url| url.hostname)
        .unwrap_or_default()
}

/// `extractPathAndQueryKeys`: `path`, else `url`'s path and query, else `target`; the path
/// without its query, and the set of query keys.
fn path_and_query_keys(map: &Map<String, Value>) -> (String, HashSet<String>) {
    let text = if let Some(path) = non_empty_string(map, "path") {
        path
    } else if let Some(url) = non_empty_string(map, "url") {
        return match parse_url(url) {
            Some(url) => (url.path, query_keys(&url.raw_query)),
            None => (String::new(), HashSet::new()),
        };
    } else {
        non_empty_string(map, "target").unwrap_or_default()
    };
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    (path.to_owned(), query_keys(query))
}

/// `parseQueryKeys`.
fn query_keys(raw: &str) -> HashSet<String> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let key = pair.split_once('=').map_or(pair, |(key, _)| key);
            let key = query_unescape(key).unwrap_or_else(|| key.to_owned());
            let key = key.trim();
            (!key.is_empty()).then(|| key.to_owned())
        })
        .collect()
}

/// The parts of a URL Go's `url.Parse` gives the guard: `Hostname()`, `Path` (decoded)
/// and `RawQuery`. `None` where Go's parser fails (a bad percent-escape, a control
/// character, a bad port); URLs without a scheme have no host, as in Go.
struct ParsedUrl {
    hostname: String,
    path: String,
    raw_query: String,
}

fn parse_url(raw: &str) -> Option<ParsedUrl> {
    if raw.chars().any(|c| c.is_ascii_control()) {
        return None;
    }
    let raw = raw.split('#').next().unwrap_or_default();
    let (rest, raw_query) = raw.split_once('?').unwrap_or((raw, ""));
    let scheme_end = rest.find(':').filter(|&end| {
        end > 0
            && rest[..end].starts_with(|c: char| c.is_ascii_alphabetic())
            && rest[..end]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    let rest = scheme_end.map_or(rest, |end| &rest[end + 1..]);
    let (hostname, path) = match rest.strip_prefix("//") {
        Some(authority_and_path) => {
            let end = authority_and_path
                .find('/')
                .unwrap_or(authority_and_path.len());
            let (authority, path) = authority_and_path.split_at(end);
            let host_port = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            let hostname = if let Some(bracketed) = host_port.strip_prefix('[') {
                bracketed.split_once(']')?.0.to_owned()
            } else {
                let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, ""));
                if !port.chars().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                query_unescape_path(host)?
            };
            (hostname, path)
        }
        None => (String::new(), rest),
    };
    Some(ParsedUrl {
        hostname,
        path: query_unescape_path(path)?,
        raw_query: raw_query.to_owned(),
    })
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte; `None` on a bad escape.
fn query_unescape(text: &str) -> Option<String> {
    unescape(text, true)
}

/// Go's path unescaping: as [`query_unescape`] but `+` stays.
fn query_unescape_path(text: &str) -> Option<String> {
    unescape(text, false)
}

fn unescape(text: &str, plus_is_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let hex = bytes.get(index + 1..index + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                index += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                index += 1;
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// `extractGraphQLQuery`: `body.query` of an object body, or of a string body holding a
/// JSON object.
fn graphql_query(map: &Map<String, Value>) -> String {
    match map.get("body") {
        Some(Value::Object(body)) => body.get("query").and_then(Value::as_str).map(str::to_owned),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(body)) => body.get("query").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        },
        _ => None,
    }
    .unwrap_or_default()
}

/// `normalizeGQL`: spaces around braces, whitespace collapsed.
fn normalize_graphql(query: &str) -> String {
    query
        .trim()
        .replace('{', " { ")
        .replace('}', " } ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------
// Similarity (`calculateSimilarityScore` and its helpers).
// ---------------------------------------------------------------------------------------

/// `calculateSimilarityScore`: 0 to 1, recursive to depth 5, then text.
fn similarity(a: Option<&Value>, b: Option<&Value>, depth: usize) -> f64 {
    if depth > 5 {
        return compare_strings(&stringify(a), &stringify(b));
    }
    let (Some(a), Some(b)) = (a.filter(|a| !a.is_null()), b.filter(|b| !b.is_null())) else {
        let both_absent = a.is_none_or(Value::is_null) && b.is_none_or(Value::is_null);
        return if both_absent { 1.0 } else { 0.0 };
    };
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => compare_maps(a, b, depth),
        (Value::Object(_), _) => 0.0,
        (Value::Array(a), Value::Array(b)) => compare_slices(a, b, depth),
        (Value::Array(_), _) => 0.0,
        (Value::String(a), Value::String(b)) => compare_strings(a, b),
        (Value::String(_), _) => 0.0,
        (a, b) => compare_strings(&gojson::format_v(a), &gojson::format_v(b)),
    }
}

/// `safeStringify`.
fn stringify(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(composite @ (Value::Object(_) | Value::Array(_))) => {
            let mut out = String::new();
            gojson::marshal(composite, &mut out);
            out
        }
        Some(scalar) => gojson::format_v(scalar),
    }
}

/// `compareMaps`: the mean over the union of keys of the scores of the keys both have.
fn compare_maps(a: &Map<String, Value>, b: &Map<String, Value>, depth: usize) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let mut keys: Vec<&String> = a
        .keys()
        .chain(b.keys().filter(|key| !a.contains_key(*key)))
        .collect();
    keys.sort_unstable();
    let total: f64 = keys
        .iter()
        .filter_map(|key| {
            Some(similarity(
                Some(a.get(*key)?),
                Some(b.get(*key)?),
                depth + 1,
            ))
        })
        .sum();
    total / keys.len() as f64
}

/// `compareSlices`: the mean over the longer length of the pairwise scores.
fn compare_slices(a: &[Value], b: &[Value], depth: usize) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let total: f64 = a
        .iter()
        .zip(b)
        .map(|(a, b)| similarity(Some(a), Some(b), depth + 1))
        .sum();
    total / a.len().max(b.len()) as f64
}

/// `compareStrings`: byte lengths for the early exit and the normalisation, Levenshtein
/// over characters up to 100 bytes, a character-frequency Dice coefficient beyond.
fn compare_strings(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    let max_len = a.len().max(b.len());
    if max_len == 0 {
        return 1.0;
    }
    let min_similarity = 1.0 - a.len().abs_diff(b.len()) as f64 / max_len as f64;
    if min_similarity < 0.3 {
        return min_similarity;
    }
    if max_len > 100 {
        return dice(a, b);
    }
    1.0 - strsim::levenshtein(a, b) as f64 / max_len as f64
}

/// `fastApproximateSimilarity`: 2·|common characters| / (|a| + |b|), counted per character.
fn dice(a: &str, b: &str) -> f64 {
    let count = |text: &str| {
        let mut counts: HashMap<char, usize> = HashMap::new();
        for c in text.chars() {
            *counts.entry(c).or_default() += 1;
        }
        counts
    };
    let (counts_a, counts_b) = (count(a), count(b));
    let common: usize = counts_a
        .iter()
        .map(|(c, &n)| n.min(counts_b.get(c).copied().unwrap_or(0)))
        .sum();
    let total = a.chars().count() + b.chars().count();
    if total == 0 {
        return 1.0;
    }
    2.0 * common as f64 / total as f64
}

// ---------------------------------------------------------------------------------------
// The response (`spanToMockInteraction`, `api.MockInteraction`).
// ---------------------------------------------------------------------------------------

/// `{"response": MockInteraction}` as the CLI's JSON round trip leaves it; `None` where
/// Go's `json.Marshal` fails (a timestamp outside the years 0 to 9999).
fn mock_interaction(span: &Span) -> Option<Map<String, Value>> {
    let empty = Map::new();
    let input = span.input_value.as_ref();
    let input_map = input.unwrap_or(&empty);
    let method = input_map
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or(&span.submodule_name);
    let path = input_map
        .get("target")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut request = Map::new();
    request.insert("method".to_owned(), method.into());
    request.insert("path".to_owned(), path.into());
    request.insert("headers".to_owned(), header_lists(input));
    if let Some(input) = input {
        request.insert("body".to_owned(), Value::Object(input.clone()));
    }
    let output = span.output_value.as_ref();
    let status = output
        .and_then(|output| output.get("statusCode"))
        .and_then(Value::as_f64)
        .map_or(200, |status| status as i64);
    let mut response = Map::new();
    response.insert("status".to_owned(), status.into());
    response.insert("headers".to_owned(), header_lists(output));
    if let Some(output) = output {
        response.insert("body".to_owned(), Value::Object(output.clone()));
    }
    let (seconds, nanos) = span.timestamp.unwrap_or((GO_ZERO_TIME_SECONDS, 0));
    let mut interaction = Map::new();
    interaction.insert("service".to_owned(), span.package_name.clone().into());
    interaction.insert("request".to_owned(), Value::Object(request));
    interaction.insert("response".to_owned(), Value::Object(response));
    interaction.insert("order".to_owned(), 1.into());
    interaction.insert("timestamp".to_owned(), rfc3339_nano(seconds, nanos)?.into());
    let mut data = Map::new();
    data.insert("response".to_owned(), Value::Object(interaction));
    Some(data)
}

/// `headers` of a value as `{name: [value]}` (string values only), or `null` when the value
/// has no `headers` object.
fn header_lists(value: Option<&Map<String, Value>>) -> Value {
    match value.and_then(|value| value.get("headers")) {
        Some(Value::Object(headers)) => Value::Object(
            headers
                .iter()
                .filter_map(|(name, value)| {
                    Some((
                        name.clone(),
                        Value::Array(vec![Value::String(value.as_str()?.to_owned())]),
                    ))
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// Go's zero `time.Time` (0001-01-01T00:00:00Z) in Unix seconds.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

/// Go's `time.Time.MarshalJSON` of `time.Unix(seconds, nanos).UTC()`: RFC 3339 with the
/// fraction's trailing zeros cut; `None` outside the years 0 to 9999.
fn rfc3339_nano(seconds: i64, nanos: i32) -> Option<String> {
    let seconds = seconds.checked_add(i64::from(nanos).div_euclid(1_000_000_000))?;
    let nanos = i64::from(nanos).rem_euclid(1_000_000_000);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    );
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push('Z');
    Some(text)
}

/// Howard Hinnant's `civil_from_days` for any day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The facts sheet's vectors for the CLI's reduced value hash, computed there by the
    /// CLI's own Go code (`internal/utils/{hash,importance}.go`).
    #[test]
    fn reduced_value_hashes_match_the_clis_go_code() {
        use crate::DecodedType;
        use crate::schema::{Merge, Merges};
        let a = json!({"text": "SELECT * FROM users WHERE id = $1", "values": ["42"], "clientType": "pool"});
        let merges: Merges = [("values".to_owned(), Merge::ignored())].into();
        let schema = Schema::of(&a, &merges);
        assert_eq!(
            reduced_value_hash(a.as_object(), Some(&schema)),
            "b9e383fc718cbeb13d132ebc688bafe5dfb589d287ebd57b2d207395c8b62c86"
        );
        let b = json!({
            "method": "POST", "path": "/v1/items?x=1",
            "headers": {"content-type": "application/json"},
            "protocol": "https", "hostname": "api.example.com",
            "body": "eyJhIjoxfQ==", "bodySize": 7,
        });
        let merges: Merges = [
            ("headers".to_owned(), Merge::ignored()),
            ("body".to_owned(), Merge::base64(Some(DecodedType::Json))),
        ]
        .into();
        let schema = Schema::of(&b, &merges);
        assert_eq!(
            reduced_value_hash(b.as_object(), Some(&schema)),
            "63dc0ec635ad8d10911565fafff503feb669bfdbc0f688a6e49069503d7776aa"
        );
        // Without a schema there is no reduced hash, as in the CLI.
        assert_eq!(reduced_value_hash(b.as_object(), None), "");
        assert_eq!(reduced_schema_hash(None), "");
    }

    #[test]
    fn reduced_schemas_marshal_as_go_marshals_the_struct() {
        let mut schema = Schema {
            r#type: 6,
            ..Schema::default()
        };
        schema.properties.insert(
            "headers".to_owned(),
            Schema {
                r#type: 6,
                match_importance: Some(0.0),
                ..Schema::default()
            },
        );
        schema.properties.insert(
            "body".to_owned(),
            Schema {
                r#type: 2,
                encoding: Some(1),
                decoded_type: Some(1),
                match_importance: Some(1.0),
                ..Schema::default()
            },
        );
        schema.properties.insert(
            "list".to_owned(),
            Schema {
                r#type: 7,
                items: Some(Box::new(Schema {
                    r#type: 0,
                    encoding: Some(0),
                    ..Schema::default()
                })),
                ..Schema::default()
            },
        );
        let mut text = String::new();
        marshal_reduced_schema(&schema, &mut text);
        assert_eq!(
            text,
            r#"{"type":6,"properties":{"body":{"type":2,"encoding":1,"decoded_type":1,"match_importance":1},"list":{"type":7,"items":{"encoding":0}}}}"#
        );
        let ignored = Schema {
            match_importance: Some(0.0),
            ..Schema::default()
        };
        let mut text = String::new();
        marshal_reduced_schema(&ignored, &mut text);
        assert_eq!(text, "null");
    }

    #[test]
    fn times_format_as_go_marshals_them() {
        assert_eq!(
            rfc3339_nano(1_766_958_709, 925_000_000).unwrap(),
            "2025-12-28T21:51:49.925Z"
        );
        assert_eq!(rfc3339_nano(0, 0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nano(-1, 1).unwrap(),
            "1969-12-31T23:59:59.000000001Z"
        );
        assert_eq!(
            rfc3339_nano(5, -1).unwrap(),
            "1970-01-01T00:00:04.999999999Z"
        );
        assert_eq!(
            rfc3339_nano(GO_ZERO_TIME_SECONDS, 0).unwrap(),
            "0001-01-01T00:00:00Z"
        );
        assert_eq!(rfc3339_nano(253_402_300_800, 0), None, "year 10000");
        assert_eq!(
            rfc3339_nano(GO_ZERO_TIME_SECONDS - 86_400 * 366, 0).unwrap(),
            "0000-01-01T00:00:00Z"
        );
        assert_eq!(
            rfc3339_nano(GO_ZERO_TIME_SECONDS - 86_400 * 367, 0),
            None,
            "year -1"
        );
    }

    #[test]
    fn strings_compare_as_the_cli_compares_them() {
        assert_eq!(compare_strings("abc", "abc"), 1.0);
        assert_eq!(compare_strings("", ""), 1.0);
        assert_eq!(compare_strings("kitten", "sitting"), 1.0 - 3.0 / 7.0);
        // Lengths in bytes, distance in characters: "é" is 2 bytes, 1 edit.
        assert_eq!(compare_strings("é", "e"), 1.0 - 1.0 / 2.0);
        // Too different in length: the length ratio itself.
        assert_eq!(compare_strings("a", "abcdefghij"), 1.0 - 9.0 / 10.0);
        // Over 100 bytes: the Dice coefficient ignores order.
        let a = "ab".repeat(60);
        let b = "ba".repeat(60);
        assert_eq!(compare_strings(&a, &b), 1.0);
    }

    #[test]
    fn similarity_walks_values_as_the_cli_does() {
        let score = |a: Value, b: Value| similarity(Some(&a), Some(&b), 0);
        assert_eq!(score(json!({}), json!({})), 1.0);
        assert_eq!(score(json!({"a": 1}), json!({})), 0.0);
        assert_eq!(
            score(json!({"a": "x", "b": "y"}), json!({"a": "x", "c": "y"})),
            1.0 / 3.0
        );
        assert_eq!(score(json!([1, 2]), json!([1])), 0.5);
        assert_eq!(
            score(json!(3), json!(3.0)),
            1.0,
            "numbers compare as Go prints them"
        );
        assert_eq!(score(json!("3"), json!(3)), 0.0);
        assert_eq!(similarity(None, None, 0), 1.0);
        assert_eq!(similarity(Some(&json!(null)), None, 0), 1.0);
        assert_eq!(similarity(Some(&json!({})), None, 0), 0.0);
        // Beyond depth 5 values compare as text.
        let deep = |leaf: Value| json!({"a": {"a": {"a": {"a": {"a": {"a": leaf}}}}}});
        assert_eq!(score(deep(json!({"k": 1})), deep(json!({"k": 1}))), 1.0);
    }

    #[test]
    fn the_graphql_guard_normalizes_whitespace() {
        assert_eq!(normalize_graphql("  query{ a {b}}\n"), "query { a { b } }");
        let object = json!({"body": {"query": "{a}"}});
        let text = json!({"body": "{\"query\": \"{a}\"}"});
        let base64 = json!({"body": "eyJxdWVyeSI6ICJ7YX0ifQ=="});
        assert_eq!(graphql_query(object.as_object().unwrap()), "{a}");
        assert_eq!(graphql_query(text.as_object().unwrap()), "{a}");
        assert_eq!(graphql_query(base64.as_object().unwrap()), "");
    }

    #[test]
    fn urls_and_queries_parse_as_go_parses_them() {
        let url = parse_url("https://user@API.example.com:8443/a%20b/c?x=1&y=2#f").unwrap();
        assert_eq!(
            (
                url.hostname.as_str(),
                url.path.as_str(),
                url.raw_query.as_str()
            ),
            ("API.example.com", "/a b/c", "x=1&y=2")
        );
        assert_eq!(parse_url("http://[::1]:80/").unwrap().hostname, "::1");
        assert!(parse_url("http://h/%zz").is_none());
        assert!(parse_url("http://h:port/").is_none());
        assert_eq!(parse_url("/relative?q").unwrap().hostname, "");
        let keys = query_keys("a=1&b&&c%20d=2&a=3&%zz=4& =5&e+f=6");
        let expected: HashSet<String> = ["a", "b", "c d", "%zz", "e f"].map(str::to_owned).into();
        assert_eq!(keys, expected);
    }

    #[test]
    fn the_trace_id_glob_is_the_clis() {
        assert!(glob_trace_id("2026-01-01T00-00-00Z_trace_abc.jsonl", "abc"));
        assert!(glob_trace_id("trace-abc-extra.jsonl", "abc"));
        assert!(!glob_trace_id("abc_trace_x.jsonl", "abc"));
        assert!(!glob_trace_id("x_trace_abc.json", "abc"));
    }
}
