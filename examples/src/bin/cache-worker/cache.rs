//! The cache and its writer thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// One cached item.
#[derive(Serialize, Clone, Debug)]
pub struct CacheEntry {
    pub name: String,
    pub size_bytes: u64,
    pub hits: u64,
    pub updated_ms: u64,
}

pub struct Cache {
    pub entries: Arc<Mutex<HashMap<String, CacheEntry>>>,
    pub writer_max_wait_us: Arc<AtomicU64>,
    pub writer_writes: Arc<AtomicU64>,
    count: usize,
}

impl Cache {
    /// `count` entries keyed `k0` … `k{count-1}`.
    pub fn filled(count: usize) -> Cache {
        let now = now_ms();
        let entries = (0..count)
            .map(|i| {
                let entry = CacheEntry {
                    name: format!("item {i}"),
                    size_bytes: (i as u64 * 37) % 4096,
                    hits: 0,
                    updated_ms: now,
                };
                (format!("k{i}"), entry)
            })
            .collect();
        Cache {
            entries: Arc::new(Mutex::new(entries)),
            writer_max_wait_us: Arc::default(),
            writer_writes: Arc::default(),
            count,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, CacheEntry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts a hit on `key` and answers the entry as JSON.
    pub fn hit(&self, key: &str) -> Option<String> {
        let mut entries = self.lock();
        let entry = entries.get_mut(key)?;
        entry.hits += 1;
        serde_json::to_string(entry).ok()
    }

    /// Starts the thread that updates a random entry every millisecond and records
    /// how long it waited for the lock.
    pub fn start_writer(self: Arc<Cache>) {
        std::thread::Builder::new()
            .name("cache-writer".into())
            .spawn(move || {
                let mut random = 0x2545_f491_4f6c_dd1d_u64;
                loop {
                    std::thread::sleep(Duration::from_millis(1));
                    if self.count == 0 {
                        continue;
                    }
                    random = xorshift(random);
                    let key = format!("k{}", random % self.count as u64);
                    let asked = Instant::now();
                    let mut entries = self.lock();
                    let waited = asked.elapsed().as_micros() as u64;
                    if let Some(entry) = entries.get_mut(&key) {
                        entry.hits += 1;
                        entry.updated_ms = now_ms();
                    }
                    drop(entries);
                    self.writer_max_wait_us.fetch_max(waited, Ordering::Relaxed);
                    self.writer_writes.fetch_add(1, Ordering::Relaxed);
                }
            })
            .expect("start the writer thread");
    }

    /// Starts a new wait measurement; returns the old maximum (µs).
    pub fn reset_writer_stats(&self) -> u64 {
        self.writer_max_wait_us.swap(0, Ordering::Relaxed)
    }
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
