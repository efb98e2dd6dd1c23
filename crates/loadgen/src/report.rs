//! The numbers of a run, as text for a terminal or as one JSON object for scripts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::json;

use crate::cpu::ASSUMED_CLK_TCK;
use crate::run::Outcome;

/// What was run, for the report's header.
#[derive(Debug, Clone)]
pub struct Setup {
    pub mode: &'static str,
    pub endpoint: String,
    pub connections: usize,
    pub threads: usize,
    pub signature: &'static str,
    pub value_bytes: usize,
}

/// The numbers of one run. Latencies are of successful requests, in microseconds; throughput
/// counts successful requests only.
#[derive(Debug, Clone)]
pub struct Report {
    pub setup: Setup,
    /// Requests answered in the window, successful or not.
    pub requests: u64,
    pub errors: u64,
    pub failures: BTreeMap<String, u64>,
    pub reconnects: u64,
    pub duration_s: f64,
    pub throughput_rps: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub server_cpu_s: Option<f64>,
    pub loadgen_cpu_s: Option<f64>,
}

impl Report {
    pub fn new(setup: Setup, outcome: &Outcome) -> Self {
        let t = &outcome.tally;
        let h = &t.latency_us;
        let ok = t.successes();
        let errors = t.errors();
        let duration_s = outcome.window.as_secs_f64();
        let per_second = |n: u64| {
            if duration_s > 0.0 {
                n as f64 / duration_s
            } else {
                0.0
            }
        };
        let q = |quantile: f64| {
            if ok == 0 {
                0
            } else {
                h.value_at_quantile(quantile)
            }
        };
        Self {
            setup,
            requests: ok + errors,
            errors,
            failures: t.failures.clone(),
            reconnects: t.reconnects,
            duration_s,
            throughput_rps: per_second(ok),
            p50_us: q(0.50),
            p90_us: q(0.90),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: if ok == 0 { 0 } else { h.max() },
            server_cpu_s: outcome.server_cpu.map(|d| d.as_secs_f64()),
            loadgen_cpu_s: outcome.own_cpu.map(|d| d.as_secs_f64()),
        }
    }

    /// CPU microseconds per successful request.
    fn per_request_us(&self, cpu_s: Option<f64>) -> Option<f64> {
        let ok = self.requests - self.errors;
        cpu_s.filter(|_| ok > 0).map(|s| s * 1e6 / ok as f64)
    }

    pub fn to_json(&self) -> serde_json::Value {
        let s = &self.setup;
        json!({
            "mode": s.mode,
            "endpoint": s.endpoint,
            "connections": s.connections,
            "threads": s.threads,
            "signature": s.signature,
            "value_bytes": s.value_bytes,
            "requests": self.requests,
            "errors": self.errors,
            "errors_by_cause": self.failures,
            "reconnects": self.reconnects,
            "duration_s": self.duration_s,
            "throughput_rps": self.throughput_rps,
            "latency_us": {
                "p50": self.p50_us,
                "p90": self.p90_us,
                "p99": self.p99_us,
                "p99.9": self.p999_us,
                "max": self.max_us,
            },
            "server_cpu_s": self.server_cpu_s,
            "server_cpu_us_per_request": self.per_request_us(self.server_cpu_s),
            "loadgen_cpu_s": self.loadgen_cpu_s,
            "loadgen_cpu_us_per_request": self.per_request_us(self.loadgen_cpu_s),
            "clk_tck_assumed": ASSUMED_CLK_TCK,
        })
    }

    pub fn to_text(&self) -> String {
        let s = &self.setup;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} endpoint={} connections={} threads={} signature={} value={} B",
            s.mode, s.endpoint, s.connections, s.threads, s.signature, s.value_bytes
        );
        let _ = writeln!(
            out,
            "  requests     {} ({} errors, {} reconnects)",
            self.requests, self.errors, self.reconnects
        );
        for (cause, n) in &self.failures {
            let _ = writeln!(out, "    error {cause}: {n}");
        }
        let _ = writeln!(out, "  duration     {:.3} s", self.duration_s);
        let _ = writeln!(out, "  throughput   {:.1} req/s", self.throughput_rps);
        let _ = writeln!(
            out,
            "  latency µs   p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            self.p50_us, self.p90_us, self.p99_us, self.p999_us, self.max_us
        );
        for (who, cpu) in [
            ("server", self.server_cpu_s),
            ("loadgen", self.loadgen_cpu_s),
        ] {
            if let Some(secs) = cpu {
                let per_req = self
                    .per_request_us(cpu)
                    .map_or_else(|| "-".to_owned(), |us| format!("{us:.1}"));
                let _ = writeln!(
                    out,
                    "  {who:<7} cpu  {secs:.2} s ({:.0}% of one core), {per_req} µs/request (CLK_TCK assumed {ASSUMED_CLK_TCK})",
                    if self.duration_s > 0.0 { secs / self.duration_s * 100.0 } else { 0.0 },
                );
            }
        }
        out
    }
}
