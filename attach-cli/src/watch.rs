//! `attach <PID> --watch '<expr>'`: re-evaluate every interval and redraw in place.
//!
//! A number gets a sparkline of its recent values and its rate of change. With
//! `--all`, every worker of that name is a row of a live table. Ctrl-C leaves cleanly
//! (exit 0, FIFOs removed); a target that goes away ends the watch with status 2; a
//! reader that closes our stdout (`| head -2`) ends it at once, between two samples.

use std::collections::{BTreeMap, VecDeque};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use attach_cli::{ConnectError, ConnectOptions, Outcome, Session};

use crate::output::{self, OutputClosed};
use crate::{discover, escape, fanout, interrupt, json, render, status};

/// Values kept for the sparkline.
const HISTORY: usize = 40;
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

pub struct Watch<'a> {
    pub expr: &'a str,
    pub interval: Duration,
    pub as_json: bool,
}

/// Recent numeric values of one target.
#[derive(Default)]
struct Trend(VecDeque<f64>);

impl Trend {
    /// Records `value` if it is a number; returns the sparkline and rate columns.
    fn update(&mut self, value: &serde_json::Value, interval: Duration) -> (String, String) {
        let Some(number) = value.as_f64() else {
            self.0.clear();
            return (String::new(), String::new());
        };
        if self.0.len() == HISTORY {
            self.0.pop_front();
        }
        self.0.push_back(number);
        let rate = match (self.0.len(), self.0.iter().rev().nth(1)) {
            (2.., Some(previous)) => {
                format!("{:+.1}/s", (number - previous) / interval.as_secs_f64())
            }
            _ => String::new(),
        };
        (sparkline(self.0.iter().copied()), rate)
    }
}

/// `▁▃▅█`-style bars scaled between the smallest and largest value.
pub fn sparkline(values: impl Iterator<Item = f64> + Clone) -> String {
    let (low, high) = values
        .clone()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    values
        .map(|v| {
            let level = if high > low {
                (v - low) / (high - low)
            } else {
                0.0
            };
            BARS[((level * (BARS.len() - 1) as f64).round() as usize).min(BARS.len() - 1)]
        })
        .collect()
}

impl Watch<'_> {
    /// Watches one process through one session.
    pub fn one(&self, pid: u32, options: &ConnectOptions) -> anyhow::Result<u8> {
        let mut session = Session::connect(pid, options)?;
        let mut trend = Trend::default();
        loop {
            let outcome = match session.eval(self.expr) {
                Ok(outcome) => outcome,
                Err(ConnectError::Interrupted) => return Ok(status::OK),
                Err(err) => return Err(err.into()),
            };
            if self.as_json {
                json::print(&json::outcome(pid, self.expr, &outcome))?;
            } else {
                let text = match &outcome {
                    Outcome::Value { value, .. } => {
                        let (spark, rate) = trend.update(value, self.interval);
                        let shown = render::value(value);
                        [shown, spark, rate]
                            .into_iter()
                            .filter(|s| !s.is_empty())
                            .collect::<Vec<_>>()
                            .join("  ")
                    }
                    Outcome::Failed { .. } => render::outcome_cell(&outcome),
                };
                self.draw(&format!("attach {pid} --watch \"{}\"", self.expr), &text)?;
            }
            if !self.pause()? {
                return Ok(status::OK);
            }
        }
    }

    /// Watches every process of `uid` named `name`, as a live table.
    pub fn all(&self, name: &str, uid: u32, options: &ConnectOptions) -> anyhow::Result<u8> {
        let mut trends: BTreeMap<u32, Trend> = BTreeMap::new();
        loop {
            let answers = fanout::run_all(discover::named(name, uid), self.expr, options);
            if interrupt::requested() {
                return Ok(status::OK);
            }
            let mut rows = Vec::new();
            for answer in &answers {
                let pid = answer.process.pid;
                let (cell, spark, rate) = match &answer.result {
                    Ok(outcome @ Outcome::Value { value, .. }) => {
                        let (spark, rate) =
                            trends.entry(pid).or_default().update(value, self.interval);
                        (render::outcome_cell(outcome), spark, rate)
                    }
                    Ok(outcome) => (render::outcome_cell(outcome), String::new(), String::new()),
                    Err(err) => (format!("error: {err}"), String::new(), String::new()),
                };
                if self.as_json {
                    json::print(&match &answer.result {
                        Ok(outcome) => json::outcome(pid, self.expr, outcome),
                        Err(err) => json::connect_error(Some(pid), &err.to_string()),
                    })?;
                }
                rows.push(
                    serde_json::json!({"pid": pid, "result": cell, "trend": spark, "rate": rate}),
                );
            }
            trends.retain(|pid, _| answers.iter().any(|a| a.process.pid == *pid));
            if !self.as_json {
                let table = render::table(&rows)
                    .unwrap_or_else(|| format!("no process named {name:?} runs an agent"));
                self.draw(
                    &format!("attach --all {name} --watch \"{}\"", self.expr),
                    &table,
                )?;
            }
            if !self.pause()? {
                return Ok(status::OK);
            }
        }
    }

    /// On a terminal, redraws the screen; otherwise appends lines. `body` is
    /// rendered (escaped) already; the title is escaped here.
    pub(crate) fn draw(&self, title: &str, body: &str) -> Result<(), OutputClosed> {
        if std::io::stdout().is_terminal() {
            output::write(&format!(
                "\x1b[H\x1b[2J{} every {:.1}s (Ctrl-C leaves)\n\n{body}\n",
                escape::line(title),
                self.interval.as_secs_f64()
            ))
        } else {
            output::line(body)
        }
    }

    /// Sleeps one interval; false if Ctrl-C asked to leave, an error as soon as the
    /// reader of stdout went away.
    pub(crate) fn pause(&self) -> Result<bool, OutputClosed> {
        let until = Instant::now() + self.interval;
        while Instant::now() < until {
            if interrupt::requested() {
                return Ok(false);
            }
            let slice = (until - Instant::now()).min(Duration::from_millis(50));
            if output::closed_within(slice) {
                return Err(OutputClosed(std::io::ErrorKind::BrokenPipe.into()));
            }
        }
        Ok(!interrupt::requested())
    }
}

/// `1s`, `500ms`, `2m` or a plain number of seconds.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else if let Some(m) = text.strip_suffix('m') {
        (m, 60.0)
    } else {
        (text, 1.0)
    };
    let seconds: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not an interval (try 1s, 500ms or 2m)"))?;
    let interval = Duration::try_from_secs_f64(seconds * scale)
        .map_err(|_| format!("`{text}` is not a usable interval"))?;
    if interval < Duration::from_millis(10) {
        return Err(format!(
            "`{text}` is too short; the smallest interval is 10ms"
        ));
    }
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_between_min_and_max() {
        assert_eq!(sparkline([1.0, 2.0, 3.0, 8.0].into_iter()), "▁▂▃█");
        assert_eq!(sparkline([5.0, 5.0].into_iter()), "▁▁");
    }

    #[test]
    fn intervals_parse_in_several_units() {
        assert_eq!(parse_interval("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_interval("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_interval("fast").is_err());
        assert!(parse_interval("1ms").is_err());
    }

    #[test]
    fn the_rate_is_the_change_per_second() {
        let mut trend = Trend::default();
        trend.update(&serde_json::json!(10), Duration::from_millis(500));
        let (spark, rate) = trend.update(&serde_json::json!(20), Duration::from_millis(500));
        assert_eq!((spark.as_str(), rate.as_str()), ("▁█", "+20.0/s"));
    }
}
