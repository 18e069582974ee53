//! The second thread of a single-text pass: a helper thread that computes
//! one half of every layer's weights while the calling thread computes the
//! other half, the two meeting twice per layer to add up their partial
//! sums (see [`super::Layer`]).
//!
//! Why a dedicated thread and not `rayon::join`: the halves wait for each
//! other 12 times per pass (MiniLM-L6), and a waiting half must be sure the
//! other one runs. A rayon job may sit unstolen in its own queue while the
//! thread that pushed it waits for it; a dedicated thread always runs.
//! Waits spin briefly (the other half is a few microseconds away), then
//! yield. The helper serves one pass at a time: a pass that finds it busy
//! (a concurrent search) runs both halves on its own thread, which gives
//! the same bits.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, mpsc};

use parking_lot::{Mutex, RwLock};

use super::Weights;

/// Where the two halves of a pass publish their partial sums and meet.
pub(super) struct Exchange {
    /// Each half's partial sums, by step parity (a step's slot is reused
    /// two steps later, after both halves have met in between).
    parts: [[RwLock<Vec<f32>>; 2]; 2],
    /// How many steps each half has published in the current pass.
    published: [AtomicU32; 2],
    /// The helper panicked: the pass's result must not be used.
    failed: AtomicBool,
}

/// The helper's step count once it has finished a pass.
const FINISHED: u32 = u32::MAX - 1;
/// The helper's step count once it has failed (lets every wait end).
const FAILED: u32 = u32::MAX;
/// Busy-wait rounds before a waiting half starts yielding its core.
const SPINS: u32 = 1 << 14;

impl Exchange {
    fn new() -> Exchange {
        Exchange {
            parts: Default::default(),
            published: [AtomicU32::new(0), AtomicU32::new(0)],
            failed: AtomicBool::new(false),
        }
    }

    /// Step `count` (1-based over the pass) for half `me`: `compute`
    /// writes this half's partial sums, which the other half may read
    /// once this returns. Follow with [`Exchange::meet`].
    pub(super) fn publish(&self, me: usize, count: u32, compute: impl FnOnce(&mut Vec<f32>)) {
        compute(&mut self.parts[me][(count % 2) as usize].write());
        self.published[me].store(count, Ordering::Release);
    }

    /// Waits until the other half has published step `count`, then gives
    /// `combine` both halves' partial sums, half 0's first.
    pub(super) fn meet(&self, me: usize, count: u32, combine: impl FnOnce(&[f32], &[f32])) {
        wait_for(&self.published[1 - me], count);
        let slot = (count % 2) as usize;
        let (a, b) = (self.parts[0][slot].read(), self.parts[1][slot].read());
        combine(&a, &b);
    }
}

/// Waits until `counter` reaches `at_least`: spins, then yields.
fn wait_for(counter: &AtomicU32, at_least: u32) {
    let mut spins = 0u32;
    while counter.load(Ordering::Acquire) < at_least {
        if spins < SPINS {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// A pass for the helper: the embedded sequence and its row count.
struct Job {
    x: Vec<f32>,
    n: usize,
}

/// The helper thread of one encoder (it exits when the encoder drops).
pub(super) struct Pair {
    /// The helper's queue; held for a whole pass, so a second concurrent
    /// pass finds it busy. `None` once the helper is gone.
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    ex: Arc<Exchange>,
}

impl Pair {
    /// Starts the helper thread for `w`; `None` if the thread cannot be
    /// spawned.
    pub(super) fn start(w: Arc<Weights>) -> Option<Pair> {
        let ex = Arc::new(Exchange::new());
        let (tx, rx) = mpsc::channel::<Job>();
        let helper_ex = Arc::clone(&ex);
        std::thread::Builder::new()
            .name("memlayer-embed".into())
            .spawn(move || {
                let _guard = FailOnPanic(&helper_ex);
                while let Ok(mut job) = rx.recv() {
                    w.pass_half(&mut job.x, job.n, 1, &helper_ex);
                    helper_ex.published[1].store(FINISHED, Ordering::Release);
                }
            })
            .ok()?;
        Some(Pair {
            queue: Mutex::new(Some(tx)),
            ex,
        })
    }

    /// The encoder layers over `x` (`n` rows, updated in place) with half
    /// 1 of every layer on the helper; `false` (and `x` untouched) when
    /// the helper is busy with another pass or gone, and the caller should
    /// run both halves itself.
    pub(super) fn run(&self, w: &Weights, x: &mut Vec<f32>, n: usize) -> bool {
        let Some(mut queue) = self.queue.try_lock() else {
            return false;
        };
        let Some(tx) = queue.as_ref() else {
            return false;
        };
        // The helper is idle: it finished the previous pass before that
        // pass returned, and nobody else holds the queue.
        self.ex.published[0].store(0, Ordering::Relaxed);
        self.ex.published[1].store(0, Ordering::Relaxed);
        if tx.send(Job { x: x.clone(), n }).is_err() {
            *queue = None;
            return false;
        }
        let input = x.clone();
        let retire = RetireOnPanic {
            ex: &self.ex,
            queue: &mut queue,
        };
        w.pass_half(x, n, 0, &self.ex);
        wait_for(&self.ex.published[1], FINISHED);
        drop(retire);
        if self.ex.failed.load(Ordering::Acquire) {
            tracing::warn!("the embedding helper thread failed; single texts now use one thread");
            *queue = None;
            *x = input;
            return false;
        }
        true
    }
}

/// Should the calling half unwind mid-pass, lets the helper's waits end
/// (it finishes the pass on stale sums, which nobody reads) and retires
/// the helper: its queue closes, so it exits after that pass.
struct RetireOnPanic<'a> {
    ex: &'a Exchange,
    queue: &'a mut Option<mpsc::Sender<Job>>,
}

impl Drop for RetireOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.ex.published[0].store(FAILED, Ordering::Release);
            *self.queue = None;
        }
    }
}

/// Marks the exchange failed when the helper unwinds, so that the calling
/// half stops waiting and discards the pass.
struct FailOnPanic<'a>(&'a Exchange);

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.failed.store(true, Ordering::Release);
            self.0.published[1].store(FAILED, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_meet_in_order_and_see_each_others_sums() {
        let ex = Arc::new(Exchange::new());
        let other = Arc::clone(&ex);
        let helper = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for count in 1..=6u32 {
                other.publish(1, count, |buf| *buf = vec![10.0 * count as f32]);
                other.meet(1, count, |a, b| seen.push((a[0], b[0])));
            }
            seen
        });
        let mut seen = Vec::new();
        for count in 1..=6u32 {
            ex.publish(0, count, |buf| *buf = vec![count as f32]);
            ex.meet(0, count, |a, b| seen.push((a[0], b[0])));
        }
        let helper_seen = helper.join().expect("helper thread");
        let want: Vec<(f32, f32)> = (1..=6).map(|c| (c as f32, 10.0 * c as f32)).collect();
        assert_eq!(seen, want);
        assert_eq!(helper_seen, want);
    }
}
