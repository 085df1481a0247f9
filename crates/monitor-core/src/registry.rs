//! The running monitors of one kind (topology, blue/green, Limitless routers) in one runtime, by id. A monitor's
//! task removes it when it ends, however it ends.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::runtime::Handle;

/// A monitor handle a registry can stop.
pub trait Stoppable: Clone + Send + 'static {
    /// Stops the monitor (its task ends at its next await); idempotent.
    fn stop(&self);
}

pub struct Registry<M> {
    next_id: AtomicU64,
    running: Mutex<HashMap<u64, M>>,
}

impl<M> Default for Registry<M> {
    fn default() -> Self {
        Self { next_id: AtomicU64::new(0), running: Mutex::new(HashMap::new()) }
    }
}

struct Unregister<M: Stoppable> {
    registry: Arc<Registry<M>>,
    id: u64,
}

impl<M: Stoppable> Drop for Unregister<M> {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

impl<M: Stoppable> Registry<M> {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, M>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The id of the next monitor (1 for the first).
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Registers `monitor` as `id` and runs `task` on `handle`; the monitor is unregistered when the task ends.
    pub(crate) fn spawn(self: &Arc<Self>, handle: &Handle, id: u64, monitor: M, task: impl Future<Output = ()> + Send + 'static) -> M {
        self.lock().insert(id, monitor.clone());
        let registry = Arc::clone(self);
        handle.spawn(async move {
            let _unregister = Unregister { registry, id };
            task.await;
        });
        monitor
    }

    pub fn get(&self, id: u64) -> Option<M> {
        self.lock().get(&id).cloned()
    }

    /// Stops a monitor; false when no such monitor runs.
    pub fn stop(&self, id: u64) -> bool {
        match self.lock().remove(&id) {
            Some(m) => {
                m.stop();
                true
            }
            None => false,
        }
    }

    pub fn stop_all(&self) {
        for (_, m) in self.lock().drain() {
            m.stop();
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
