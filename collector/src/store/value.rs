//! The state of one series as the store holds it.

use dozor_metrics::exposition::Value;
use dozor_metrics::translate::add;

/// Histograms are rare and large; boxing them keeps every number series small.
#[derive(Clone, Debug)]
pub(super) enum Stored {
    Number(f64),
    Histogram(Box<Value>),
}

impl Stored {
    pub(super) fn new(v: Value) -> Self {
        match v {
            Value::Number(n) => Stored::Number(n),
            h => Stored::Histogram(Box::new(h)),
        }
    }

    pub(super) fn to_value(&self) -> Value {
        match self {
            Stored::Number(n) => Value::Number(*n),
            Stored::Histogram(h) => (**h).clone(),
        }
    }

    /// Cumulative points replace the state; deltas are added to it.
    pub(super) fn update(&mut self, v: Value, delta: bool) {
        match (self, v) {
            (Stored::Number(a), Value::Number(b)) if delta => *a += b,
            (Stored::Histogram(h), v) if delta => add(h, &v),
            (this, v) => *this = Stored::new(v),
        }
    }
}
