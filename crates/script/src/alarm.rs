//! A run's deadline as a flag the script's progress callback can read at every operation.
//!
//! Reading the clock costs more than a script operation, so the callback reads it every
//! 1,024 of them; but one operation can be a built-in over a large array (`contains` on
//! 100,000 elements: ~20 ms), and 1,024 of those ran a minute-long limit 20 s over. One
//! thread for the process watches every armed deadline and rings its alarm when it passes;
//! the callback looks at the alarm, one atomic load, at every operation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::Instant;

/// One run's alarm. Each arming is a new generation; the alarm has rung when the watcher
/// rang the generation now armed (so a deadline disarmed or replaced never rings late).
#[derive(Debug)]
pub struct Alarm {
    armed: AtomicU64,
    rung: AtomicU64,
}

impl Default for Alarm {
    fn default() -> Self {
        Alarm {
            armed: AtomicU64::new(0),
            rung: AtomicU64::new(u64::MAX),
        }
    }
}

impl Alarm {
    /// Arms the alarm for `deadline`, or disarms it (`None`).
    pub fn set(self: &Arc<Self>, deadline: Option<Instant>) {
        let generation = self.armed.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(at) = deadline {
            watcher().arm(at, generation, Arc::downgrade(self));
        }
    }

    /// Whether the deadline armed now has passed (as the watcher saw it).
    pub fn rung(&self) -> bool {
        self.rung.load(Ordering::Relaxed) == self.armed.load(Ordering::Relaxed)
    }
}

struct Watcher {
    armed: Mutex<Vec<(Instant, u64, Weak<Alarm>)>>,
    changed: Condvar,
}

fn watcher() -> &'static Watcher {
    static WATCHER: OnceLock<&'static Watcher> = OnceLock::new();
    WATCHER.get_or_init(|| {
        let w: &'static Watcher = Box::leak(Box::new(Watcher {
            armed: Mutex::new(Vec::new()),
            changed: Condvar::new(),
        }));
        // Without the thread, deadlines are still read from the clock every 1,024
        // operations: a failure to start one costs promptness, not the limit.
        let _ = std::thread::Builder::new()
            .name("chokepoint-deadlines".into())
            .spawn(move || w.watch());
        w
    })
}

impl Watcher {
    fn arm(&self, at: Instant, generation: u64, alarm: Weak<Alarm>) {
        let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        armed.push((at, generation, alarm));
        self.changed.notify_one();
    }

    fn watch(&self) {
        let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = Instant::now();
            // Ring what has passed; forget what was disarmed, replaced or dropped.
            armed.retain(|(at, generation, alarm)| {
                let Some(alarm) = alarm.upgrade() else {
                    return false;
                };
                if alarm.armed.load(Ordering::SeqCst) != *generation {
                    return false;
                }
                if *at <= now {
                    alarm.rung.store(*generation, Ordering::SeqCst);
                    return false;
                }
                true
            });
            armed = match armed.iter().map(|(at, ..)| *at).min() {
                Some(next) => {
                    let wait = next.saturating_duration_since(now);
                    (self.changed.wait_timeout(armed, wait))
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.changed.wait(armed).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_alarm_rings_once_its_deadline_passes_and_not_after_it_is_disarmed() {
        let a = Arc::new(Alarm::default());
        assert!(!a.rung());
        a.set(Instant::now().checked_add(Duration::from_millis(30)));
        assert!(!a.rung());
        let t = Instant::now();
        while !a.rung() && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(a.rung());
        // Re-armed: not rung until the new deadline; disarmed: never.
        a.set(Instant::now().checked_add(Duration::from_secs(3600)));
        assert!(!a.rung());
        a.set(Instant::now().checked_add(Duration::from_millis(10)));
        a.set(None);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!a.rung());
    }
}
