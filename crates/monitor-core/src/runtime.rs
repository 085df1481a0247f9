//! The addon's own tokio runtime: started lazily, shut down on demand with every thread joined within a bound.
//!
//! napi-rs's `tokio_rt` runtime is shut down with `shutdown_background()`, which never joins its workers; a
//! runtime we own can be stopped deterministically from `releaseResources()` and from the env cleanup hook.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Worker threads of the runtime; probes are I/O-bound, two is plenty on any machine.
const WORKER_THREADS: usize = 2;

struct Active {
    runtime: Runtime,
    /// Parent of every task's token: cancelled first on shutdown so cooperative tasks exit at once.
    cancel: CancellationToken,
}

/// A lazily started multi-thread runtime that can be shut down (joining its threads) and started again.
pub struct NativeRuntime {
    thread_name: String,
    active: Mutex<Option<Active>>,
    /// Threads of this runtime that are currently alive (workers and blocking-pool threads).
    threads: Arc<AtomicUsize>,
}

/// What a task needs to run on the runtime: where to spawn and the token that says "stop".
#[derive(Clone)]
pub struct RuntimeContext {
    pub handle: Handle,
    pub cancel: CancellationToken,
}

impl NativeRuntime {
    /// `thread_name` is the prefix of the runtime's thread names (Linux shows at most 15 bytes).
    pub fn new(thread_name: impl Into<String>) -> Self {
        NativeRuntime { thread_name: thread_name.into(), active: Mutex::new(None), threads: Arc::new(AtomicUsize::new(0)) }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Active>> {
        // A panic while holding the lock leaves plain data behind; keep going rather than poison every caller.
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The running runtime, started on first use (and again after a shutdown).
    pub fn context(&self) -> std::io::Result<RuntimeContext> {
        let mut active = self.lock();
        if let Some(a) = active.as_ref() {
            return Ok(RuntimeContext { handle: a.runtime.handle().clone(), cancel: a.cancel.clone() });
        }
        let runtime = self.build()?;
        let ctx = RuntimeContext { handle: runtime.handle().clone(), cancel: CancellationToken::new() };
        *active = Some(Active { runtime, cancel: ctx.cancel.clone() });
        Ok(ctx)
    }

    fn build(&self) -> std::io::Result<Runtime> {
        let started = Arc::clone(&self.threads);
        let stopped = Arc::clone(&self.threads);
        let prefix = self.thread_name.clone();
        let seq = AtomicUsize::new(0);
        Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            // DNS lookups use the blocking pool; keep it small and short-lived.
            .max_blocking_threads(4)
            .thread_keep_alive(Duration::from_secs(5))
            .thread_name_fn(move || format!("{}-{}", prefix, seq.fetch_add(1, Ordering::Relaxed)))
            .on_thread_start(move || {
                started.fetch_add(1, Ordering::SeqCst);
            })
            .on_thread_stop(move || {
                stopped.fetch_sub(1, Ordering::SeqCst);
            })
            .enable_io()
            .enable_time()
            .build()
    }

    /// Spawns `task` on the runtime; it is dropped as soon as the runtime's token is cancelled.
    pub fn spawn<F>(&self, task: F) -> std::io::Result<JoinHandle<Option<F::Output>>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let ctx = self.context()?;
        Ok(ctx.handle.spawn(async move {
            tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => None,
                out = task => Some(out),
            }
        }))
    }

    /// Whether a runtime is currently started.
    pub fn is_running(&self) -> bool {
        self.lock().is_some()
    }

    /// Threads this runtime currently owns (0 when stopped and joined).
    pub fn thread_count(&self) -> usize {
        self.threads.load(Ordering::SeqCst)
    }

    /// Cancels every task, shuts the runtime down and joins its threads within `timeout`.
    ///
    /// Returns true when every thread has ended in time (also when nothing was running). Idempotent; a later
    /// [`context`](Self::context) starts a fresh runtime. Must not be called from one of the runtime's own
    /// threads (it would wait for itself): there it only signals the shutdown and returns false.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let Some(active) = self.lock().take() else {
            return self.wait_threads(deadline);
        };
        active.cancel.cancel();
        if Handle::try_current().is_ok() {
            // Blocking here is not allowed (inside a runtime); let the threads wind down by themselves.
            active.runtime.shutdown_background();
            return false;
        }
        active.runtime.shutdown_timeout(timeout);
        self.wait_threads(deadline)
    }

    /// `shutdown_timeout` returns once the thread bodies are done; the counter drops in `on_thread_stop`,
    /// which may trail by a moment.
    fn wait_threads(&self, deadline: Instant) -> bool {
        loop {
            if self.thread_count() == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for NativeRuntime {
    fn drop(&mut self) {
        self.shutdown(Duration::from_secs(2));
    }
}
