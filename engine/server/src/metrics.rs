//! Prometheus metrics (`GET /metrics`, text exposition): requests and
//! latency per route, the engine's add/search timings and LLM work.

use std::time::Duration;

use memlayer::AddStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Op {
    op: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Stage {
    op: String,
    stage: String,
}

fn seconds() -> Histogram {
    // 0.25 ms … ~8 s
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<Request, Counter>,
    latency: Family<Route, Histogram>,
    op_latency: Family<Op, Histogram>,
    stage_latency: Family<Stage, Histogram>,
    llm_calls: Counter,
    prompt_tokens: Counter,
    cached_prompt_tokens: Counter,
    completion_tokens: Counter,
    facts: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("memlayer");
        let requests = Family::<Request, Counter>::default();
        let latency =
            Family::<Route, Histogram>::new_with_constructor(seconds as fn() -> Histogram);
        let op_latency =
            Family::<Op, Histogram>::new_with_constructor(seconds as fn() -> Histogram);
        let stage_latency =
            Family::<Stage, Histogram>::new_with_constructor(seconds as fn() -> Histogram);
        let (llm_calls, prompt_tokens, cached_prompt_tokens, completion_tokens, facts) = (
            Counter::default(),
            Counter::default(),
            Counter::default(),
            Counter::default(),
            Counter::default(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register(
            "engine_duration_seconds",
            "Engine call latency (add with inference, add without, search, ...)",
            op_latency.clone(),
        );
        registry.register(
            "llm_calls",
            "Chat-model calls made by add",
            llm_calls.clone(),
        );
        registry.register(
            "llm_prompt_tokens",
            "Prompt tokens over all chat-model calls",
            prompt_tokens.clone(),
        );
        registry.register(
            "llm_cached_prompt_tokens",
            "Prompt tokens served from the prefix cache",
            cached_prompt_tokens.clone(),
        );
        registry.register(
            "llm_completion_tokens",
            "Generated tokens over all chat-model calls",
            completion_tokens.clone(),
        );
        registry.register("facts_extracted", "Facts extracted by add", facts.clone());
        registry.register(
            "stage_duration_seconds",
            "Time per pipeline stage (add: extract, fact_check, attribute, graph_extract, embed, candidates, reconcile, commit, store; search: embed, keyword, semantic, fetch, feedback, rank, rerank, graph)",
            stage_latency.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            op_latency,
            stage_latency,
            llm_calls,
            prompt_tokens,
            cached_prompt_tokens,
            completion_tokens,
            facts,
        }
    }
}

impl Metrics {
    /// One finished HTTP request.
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&Request {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&Route {
                method: method.to_string(),
                route: route.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// One engine call (`add_infer`, `add_raw`, `search`, ...).
    pub fn op(&self, op: &str, took: Duration) {
        self.op_latency
            .get_or_create(&Op { op: op.to_string() })
            .observe(took.as_secs_f64());
    }

    /// The stage timings of one engine call.
    pub fn stages(&self, op: &str, t: &memlayer::StageTimings) {
        for (stage, ms) in t.stages() {
            self.stage_latency
                .get_or_create(&Stage {
                    op: op.to_string(),
                    stage: (*stage).to_string(),
                })
                .observe(ms / 1e3);
        }
    }

    /// The counters of one `add`.
    pub fn add_stats(&self, s: &AddStats) {
        self.llm_calls.inc_by(u64::from(s.llm_calls));
        self.prompt_tokens.inc_by(s.prompt_tokens as u64);
        self.cached_prompt_tokens
            .inc_by(s.cached_prompt_tokens as u64);
        self.completion_tokens.inc_by(s.completion_tokens as u64);
        self.facts.inc_by(s.facts as u64);
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut s, &self.registry) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_routes_and_tokens() {
        let m = Metrics::default();
        m.request("POST", "/search", 200, Duration::from_millis(3));
        m.add_stats(&AddStats {
            llm_calls: 2,
            prompt_tokens: 100,
            ..AddStats::default()
        });
        let mut t = memlayer::StageTimings::default();
        t.record("embed", std::time::Instant::now());
        m.stages("search", &t);
        let s = m.encode();
        assert!(
            s.contains(
                r#"memlayer_http_requests_total{method="POST",route="/search",status="200"} 1"#
            ),
            "{s}"
        );
        assert!(s.contains("memlayer_llm_prompt_tokens_total 100"), "{s}");
        assert!(
            s.contains(r#"memlayer_stage_duration_seconds_count{op="search",stage="embed"} 1"#),
            "{s}"
        );
        assert!(
            s.contains("memlayer_http_request_duration_seconds_bucket"),
            "{s}"
        );
    }
}
