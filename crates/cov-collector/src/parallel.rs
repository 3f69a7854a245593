//! Spreading whole-program work (inflating names, decoding function records, reading
//! files off evaluated counts) over the machine's cores with scoped threads.
//!
//! Only the offline, whole-program path uses it: the live collector decodes a narrow
//! selection on its own background thread and must not start more threads inside the
//! application. Plain `std::thread::scope` rather than a thread pool crate keeps the SDK's
//! dependency graph (compiled, and instrumented, into every application) small; the work
//! here is a handful of large, independent batches, which needs no work stealing.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// At most this many threads, however many cores there are: beyond it the sequential
/// parts and memory bandwidth dominate.
const MAX_THREADS: usize = 8;

/// Whether a whole-program step may use every core or stays on the calling thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// The calling thread only (the live collector, inside an application).
    One,
    /// Up to one thread per core (offline decoding).
    All,
}

/// How many threads to use for `items` items, taken `batch` at a time.
fn threads_for(items: usize, batch: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    cores
        .min(MAX_THREADS)
        .min(items.div_ceil(batch.max(1)))
        .max(1)
}

/// `items.iter().map(work).collect()`, computed on several threads: each takes the next
/// `batch` items until none are left. Results are in item order. A panic in `work` is
/// resumed on the calling thread.
pub(crate) fn map<T, R, F>(items: &[T], batch: usize, work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let batch = batch.max(1);
    let threads = threads_for(items.len(), batch);
    if threads == 1 {
        return items.iter().map(work).collect();
    }
    let next = AtomicUsize::new(0);
    let worker = || {
        let mut done: Vec<(usize, Vec<R>)> = Vec::new();
        loop {
            let start = next.fetch_add(batch, Ordering::Relaxed);
            if start >= items.len() {
                return done;
            }
            let end = (start + batch).min(items.len());
            done.push((start, items[start..end].iter().map(&work).collect()));
        }
    };
    let mut batches: Vec<(usize, Vec<R>)> =
        on_threads(threads, worker).into_iter().flatten().collect();
    batches.sort_unstable_by_key(|(start, _)| *start);
    let mut results = Vec::with_capacity(items.len());
    for (_, done) in batches {
        results.extend(done);
    }
    results
}

/// `items.iter_mut().for_each(work)`, on several threads: each takes the next `batch`
/// items until none are left. A panic in `work` is resumed on the calling thread.
pub(crate) fn for_each_mut<T, F>(items: &mut [T], batch: usize, work: F)
where
    T: Send,
    F: Fn(&mut T) + Sync,
{
    let batch = batch.max(1);
    let threads = threads_for(items.len(), batch);
    if threads == 1 {
        items.iter_mut().for_each(work);
        return;
    }
    let chunks = Mutex::new(items.chunks_mut(batch));
    let worker = || {
        loop {
            // A poisoned lock only means another worker panicked; that panic is resumed
            // below, so taking the iterator over is safe.
            let next = chunks.lock().unwrap_or_else(PoisonError::into_inner).next();
            let Some(chunk) = next else {
                return;
            };
            chunk.iter_mut().for_each(&work);
        }
    };
    on_threads(threads, worker);
}

/// Runs `worker` on `threads` threads (the calling one among them) and returns what each
/// returned, the calling thread's first. A panic in a worker is resumed here.
fn on_threads<R, W>(threads: usize, worker: W) -> Vec<R>
where
    R: Send,
    W: Fn() -> R + Sync,
{
    std::thread::scope(|scope| {
        let handles: Vec<_> = (1..threads).map(|_| scope.spawn(&worker)).collect();
        let mut results = vec![worker()];
        results.extend(handles.into_iter().map(join));
        results
    })
}

/// Waits for a scoped thread to exit and returns its result; its panic is resumed here.
pub(crate) fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_item_order() {
        let items: Vec<u32> = (0..10_000).collect();
        for batch in [1, 7, 64, 20_000] {
            let doubled = map(&items, batch, |&item| u64::from(item) * 2);
            assert_eq!(doubled.len(), items.len());
            assert!(
                doubled
                    .iter()
                    .zip(&items)
                    .all(|(&twice, &item)| twice == u64::from(item) * 2)
            );
        }
        assert!(map(&[] as &[u32], 4, |&item| item).is_empty());
    }

    #[test]
    fn every_item_is_visited_once() {
        let mut items: Vec<u64> = (0..10_000).collect();
        for_each_mut(&mut items, 7, |item| *item = *item * 3 + 1);
        assert!(
            items
                .iter()
                .enumerate()
                .all(|(index, &item)| item == index as u64 * 3 + 1)
        );
    }

    #[test]
    fn a_panic_in_the_work_reaches_the_caller() {
        let items: Vec<u32> = (0..1_000).collect();
        let outcome = std::panic::catch_unwind(|| {
            map(&items, 1, |&item| {
                assert_ne!(item, 500, "item 500");
                item
            })
        });
        assert!(outcome.is_err());
    }
}
