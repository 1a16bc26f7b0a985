//! The one `error_type` vocabulary: the value of the `error_type` tag of
//! `pipeline.errors` and of the `error.type` attribute of a failed span,
//! the same in every crate of the workspace.
//!
//! - an error that implements [`ErrorType`](crate::ErrorType) names its own
//!   value (`exit_1`, `sqlstate_40P01_deadlock_detected`, `timeout`);
//! - any other error is named by its type: the last path segment without
//!   generics (`LoadError`, `ParseIntError`), except a type named `Error`,
//!   which keeps the crate or module it comes from (`io::Error`,
//!   `anyhow::Error`, `lapin::Error`); a trait object, boxed or not
//!   (`Box<dyn Error + Send + Sync>`, `&*boxed`, whose concrete type is not
//!   known), is `BoxDynError`;
//! - a panic is `panic`.

use std::sync::{Mutex, PoisonError};

use hashbrown::HashMap;

/// The `error_type` of an error of type `E` that does not implement
/// [`ErrorType`](crate::ErrorType): its short type name (see the module
/// docs above for the rules). The same function names errors in every
/// crate of the workspace, so a metric's `error_type` tag and a span's
/// `error.type` agree.
///
/// ```
/// use pipeline_telemetry::error_type_name;
///
/// #[derive(Debug)]
/// struct LoadError;
/// assert_eq!(error_type_name::<LoadError>(), "LoadError");
/// assert_eq!(error_type_name::<std::io::Error>(), "io::Error");
/// assert_eq!(error_type_name::<std::num::ParseIntError>(), "ParseIntError");
/// assert_eq!(error_type_name::<Box<dyn std::error::Error + Send>>(), "BoxDynError");
/// // What `&*boxed` names (the concrete type is not known either).
/// assert_eq!(error_type_name::<dyn std::error::Error + Send + Sync>(), "BoxDynError");
/// ```
pub fn error_type_name<E: ?Sized>() -> &'static str {
    short_type_name(std::any::type_name::<E>())
}

/// Type names whose short form is not a substring of the full name
/// (`std::io::error::Error` → `io::Error`), made once each. Only error
/// paths get here, and the set is bounded by the error types in the
/// program.
static QUALIFIED: Mutex<Option<HashMap<&'static str, &'static str>>> = Mutex::new(None);

/// Longest qualified short name kept (`<module>::Error`).
const MAX_QUALIFIED: usize = 96;

/// The short form of a full type name (see [`error_type_name`]).
pub(crate) fn short_type_name(full: &'static str) -> &'static str {
    if full.starts_with("alloc::boxed::Box<dyn ") || full.starts_with("dyn ") {
        return "BoxDynError";
    }
    let base = full.split('<').next().unwrap_or(full);
    let last = base.rsplit("::").next().unwrap_or(base);
    if last != "Error" {
        return last;
    }
    let qualifier = base
        .split("::")
        .find(|s| !matches!(*s, "std" | "core" | "alloc") && *s != "Error");
    let Some(q) = qualifier else {
        return last;
    };
    if q.len() + 2 + last.len() > MAX_QUALIFIED {
        return last;
    }
    let mut map = QUALIFIED.lock().unwrap_or_else(PoisonError::into_inner);
    let map = map.get_or_insert_with(HashMap::new);
    if let Some(s) = map.get(full) {
        return s;
    }
    let s: &'static str = Box::leak(format!("{q}::{last}").into_boxed_str());
    map.insert(full, s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        assert_eq!(short_type_name("std::io::error::Error"), "io::Error");
        assert_eq!(short_type_name("anyhow::Error"), "anyhow::Error");
        assert_eq!(short_type_name("my_crate::errors::LoadError"), "LoadError");
        assert_eq!(short_type_name("my::Wrapper<u8>"), "Wrapper");
        assert_eq!(
            short_type_name("alloc::boxed::Box<dyn core::error::Error + core::marker::Send>"),
            "BoxDynError"
        );
        // A trait object behind a reference (`fail_with_error(&*boxed)`).
        assert_eq!(
            short_type_name(std::any::type_name::<dyn std::error::Error + Send + Sync>()),
            "BoxDynError"
        );
        assert_eq!(
            short_type_name(std::any::type_name::<dyn std::fmt::Display>()),
            "BoxDynError"
        );
        // Made once: the same `&'static str` every time.
        let a = short_type_name("lapin::error::Error");
        let b = short_type_name("lapin::error::Error");
        assert_eq!(a, "lapin::Error");
        assert!(std::ptr::eq(a, b));
    }
}
