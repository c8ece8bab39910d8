//! `tasks()` for tokio hosts (cargo feature `tokio`): the async tasks alive now.
//!
//! Stable tokio only counts tasks (`RuntimeMetrics::num_alive_tasks`), so that and
//! a note are all `tasks()` can give by default. Built with
//! `RUSTFLAGS="--cfg tokio_unstable"`, tokio offers task hooks: a host that builds
//! its runtime through `instrument_tasks(&mut builder)` gets each task's id, spawn
//! location, age, polls and busy time. The hooks run on runtime threads around every
//! poll, so they only take one short lock of a sharded table each; the agent thread
//! reads the table.

use serde_json::{json, Value};

/// `tasks()`: what is known about the tasks alive now.
pub(crate) fn tasks() -> Result<Value, String> {
    let alive = crate::builtins::runtime::handle()?
        .metrics()
        .num_alive_tasks();
    #[cfg(tokio_unstable)]
    if hooks::installed() {
        return Ok(json!({ "alive_tasks": alive, "tasks": hooks::snapshot() }));
    }
    Ok(json!({
        "alive_tasks": alive,
        "tasks": [],
        "note": NOT_INSTRUMENTED,
    }))
}

#[cfg(not(tokio_unstable))]
const NOT_INSTRUMENTED: &str =
    "per-task detail (spawn location, age, polls, busy time) needs a build with \
     RUSTFLAGS=\"--cfg tokio_unstable\" and a runtime built through \
     server_agent::instrument_tasks(&mut builder); see the README, \"Async tasks\"";
#[cfg(tokio_unstable)]
const NOT_INSTRUMENTED: &str = "per-task detail needs the runtime built through \
     server_agent::instrument_tasks(&mut builder); see the README, \"Async tasks\"";

#[cfg(tokio_unstable)]
pub use hooks::instrument_tasks;

#[cfg(tokio_unstable)]
mod hooks {
    use std::collections::HashMap;
    use std::hash::{BuildHasher, RandomState};
    use std::panic::Location;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{LazyLock, Mutex, MutexGuard};
    use std::time::{Duration, Instant};

    use serde_json::{json, Value};
    use tokio::runtime::{Builder, TaskMeta};
    use tokio::task::Id;

    const SHARDS: usize = 16;

    struct Task {
        spawned_at: &'static Location<'static>,
        since: Instant,
        polls: u64,
        busy: Duration,
        /// Set while a poll runs.
        polling_since: Option<Instant>,
    }

    struct Table {
        hasher: RandomState,
        shards: [Mutex<HashMap<Id, Task>>; SHARDS],
    }

    static TABLE: LazyLock<Table> = LazyLock::new(|| Table {
        hasher: RandomState::new(),
        shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
    });
    static INSTALLED: AtomicBool = AtomicBool::new(false);

    fn shard(id: Id) -> MutexGuard<'static, HashMap<Id, Task>> {
        let index = TABLE.hasher.hash_one(id) as usize % SHARDS;
        TABLE.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn installed() -> bool {
        INSTALLED.load(Ordering::Relaxed)
    }

    /// Adds the task hooks `tasks()` reads to a tokio runtime builder (needs
    /// `RUSTFLAGS="--cfg tokio_unstable"`): every task's spawn location, age, polls
    /// and busy time are then kept, at the cost of one short sharded lock at spawn,
    /// around each poll and at exit.
    pub fn instrument_tasks(builder: &mut Builder) -> &mut Builder {
        INSTALLED.store(true, Ordering::Relaxed);
        builder
            .on_task_spawn(|meta: &TaskMeta<'_>| {
                let task = Task {
                    spawned_at: meta.spawned_at(),
                    since: Instant::now(),
                    polls: 0,
                    busy: Duration::ZERO,
                    polling_since: None,
                };
                shard(meta.id()).insert(meta.id(), task);
            })
            .on_before_task_poll(|meta: &TaskMeta<'_>| {
                if let Some(task) = shard(meta.id()).get_mut(&meta.id()) {
                    task.polling_since = Some(Instant::now());
                }
            })
            .on_after_task_poll(|meta: &TaskMeta<'_>| {
                if let Some(task) = shard(meta.id()).get_mut(&meta.id()) {
                    task.polls += 1;
                    if let Some(started) = task.polling_since.take() {
                        task.busy += started.elapsed();
                    }
                }
            })
            .on_task_terminate(|meta: &TaskMeta<'_>| {
                shard(meta.id()).remove(&meta.id());
            })
    }

    /// Every task alive now, oldest first.
    pub(crate) fn snapshot() -> Vec<Value> {
        let mut tasks: Vec<(Duration, Value)> = Vec::new();
        for index in 0..SHARDS {
            let shard = TABLE.shards[index]
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for (id, task) in shard.iter() {
                let age = task.since.elapsed();
                tasks.push((
                    age,
                    json!({
                        "id": id.to_string(),
                        "spawned_at": format!("{}:{}", task.spawned_at.file(), task.spawned_at.line()),
                        "age_ms": age.as_millis() as u64,
                        "polls": task.polls,
                        "busy_ms": task.busy.as_millis() as u64,
                        "running": task.polling_since.is_some(),
                    }),
                ));
            }
        }
        tasks.sort_by(|a, b| b.0.cmp(&a.0));
        tasks.into_iter().map(|(_, task)| task).collect()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn instrumented_tasks_show_their_spawn_location_and_polls() {
            let mut builder = tokio::runtime::Builder::new_current_thread();
            let runtime = super::instrument_tasks(&mut builder).build().unwrap();
            crate::builtins::runtime::watch(runtime.handle().clone());
            let _pending = runtime.spawn(std::future::pending::<()>());
            runtime.block_on(tokio::task::yield_now());
            let tasks = crate::builtins::tasks::tasks().unwrap();
            let listed = tasks["tasks"].as_array().unwrap();
            assert!(
                listed.iter().any(|task| task["spawned_at"]
                    .as_str()
                    .is_some_and(|at| at.contains("tasks.rs"))
                    && task["polls"].as_u64() >= Some(1)),
                "{tasks}"
            );
        }
    }
}
