//! The bounded in-memory queue of encoded requests between the batcher and the sender.
//!
//! When full, the oldest request is dropped and handed back so that its points are counted.
//! Issue #3 replaces this with the on-disk write-ahead log.

use dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::Notify;

/// A bounded FIFO with drop-oldest and an async pop.
pub struct Queue {
    inner: Mutex<(VecDeque<ExportMetricsServiceRequest>, bool)>,
    capacity: usize,
    ready: Notify,
}

impl Queue {
    /// A queue holding at most `capacity` requests (at least one).
    pub fn new(capacity: usize) -> Self {
        Queue {
            inner: Mutex::new((VecDeque::new(), false)),
            capacity: capacity.max(1),
            ready: Notify::new(),
        }
    }

    /// Appends a request; returns the oldest one if it had to be dropped to make room.
    pub fn push(
        &self,
        request: ExportMetricsServiceRequest,
    ) -> Option<ExportMetricsServiceRequest> {
        let dropped = {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            inner.0.push_back(request);
            if inner.0.len() > self.capacity {
                inner.0.pop_front()
            } else {
                None
            }
        };
        self.ready.notify_one();
        dropped
    }

    /// No more pushes: `pop` returns `None` once the queue is empty.
    pub fn close(&self) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.ready.notify_one();
    }

    /// The oldest request, waiting for one; `None` when closed and empty.
    pub async fn pop(&self) -> Option<ExportMetricsServiceRequest> {
        loop {
            {
                let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(r) = inner.0.pop_front() {
                    return Some(r);
                }
                if inner.1 {
                    return None;
                }
            }
            self.ready.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(n: usize) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![Default::default(); n],
        }
    }

    #[tokio::test]
    async fn drops_the_oldest_when_full_and_drains_after_close() {
        let q = Queue::new(2);
        assert!(q.push(request(1)).is_none());
        assert!(q.push(request(2)).is_none());
        let dropped = q.push(request(3)).expect("full: the oldest is dropped");
        assert_eq!(dropped.resource_metrics.len(), 1);
        q.close();
        assert_eq!(q.pop().await.map(|r| r.resource_metrics.len()), Some(2));
        assert_eq!(q.pop().await.map(|r| r.resource_metrics.len()), Some(3));
        assert!(q.pop().await.is_none());
    }

    #[tokio::test]
    async fn pop_waits_for_a_push() {
        let q = std::sync::Arc::new(Queue::new(4));
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.pop().await.map(|r| r.resource_metrics.len()) }
        });
        tokio::task::yield_now().await;
        q.push(request(5));
        assert_eq!(waiter.await.unwrap(), Some(5));
    }
}
