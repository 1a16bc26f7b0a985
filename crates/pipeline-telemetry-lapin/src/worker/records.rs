//! [`Records`]: how many records a handler's success value stands for.

/// How many records a handler's success value stands for, counted as
/// `pipeline.records` under the worker's stage.
pub trait Records {
    /// The number of records.
    fn records(&self) -> u64;
}

impl Records for () {
    fn records(&self) -> u64 {
        0
    }
}

impl Records for u64 {
    fn records(&self) -> u64 {
        *self
    }
}

impl Records for u32 {
    fn records(&self) -> u64 {
        u64::from(*self)
    }
}

impl Records for usize {
    fn records(&self) -> u64 {
        *self as u64
    }
}

impl<T> Records for Vec<T> {
    fn records(&self) -> u64 {
        self.len() as u64
    }
}
