//! What a stage returned, told apart at compile time (autoref
//! specialisation): a `Result` whose error is `Display`, `Debug` or
//! neither, or any other type (which never counts as an error).

use std::fmt;

/// How a stage ended.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// It returned a value that is not an error.
    Ok,
    /// It returned `Err`.
    Err(ErrorView<'a>),
}

/// A view of a stage's error: its type and, when it has one, its message.
#[derive(Clone, Copy)]
pub struct ErrorView<'a> {
    pub(crate) type_name: &'static str,
    pub(crate) message: Message<'a>,
}

#[derive(Clone, Copy)]
pub(crate) enum Message<'a> {
    Display(&'a dyn fmt::Display),
    Debug(&'a dyn fmt::Debug),
    None,
}

impl fmt::Debug for ErrorView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorView")
            .field("type", &self.type_name)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ErrorView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message {
            Message::Display(d) => d.fmt(f),
            Message::Debug(d) => d.fmt(f),
            Message::None => f.write_str(self.type_name),
        }
    }
}

impl<'a> ErrorView<'a> {
    /// A view of an error value.
    pub fn new<E: fmt::Display>(e: &'a E) -> Self {
        ErrorView {
            type_name: std::any::type_name::<E>(),
            message: Message::Display(e),
        }
    }

    /// A panic, with its message.
    pub(crate) fn panic(message: &'a &'a str) -> Self {
        ErrorView {
            type_name: "panic",
            message: Message::Display(message),
        }
    }

    /// The error's full type name.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
}

/// Wraps a stage's return value for the probe.
#[derive(Debug)]
pub struct Probe<'a, T>(pub &'a T);

/// `Result<T, E: Display>`: error with its message.
pub trait ProbeDisplay<'a> {
    /// The outcome.
    fn __pt_outcome(&self) -> Outcome<'a>;
}
/// `Result<T, E: Debug>`: error with its debug form.
pub trait ProbeDebug<'a> {
    /// The outcome.
    fn __pt_outcome(&self) -> Outcome<'a>;
}
/// `Result<T, E>`: error without a message.
pub trait ProbeAny<'a> {
    /// The outcome.
    fn __pt_outcome(&self) -> Outcome<'a>;
}
/// Anything else: never an error.
pub trait ProbeOther<'a> {
    /// The outcome.
    fn __pt_outcome(&self) -> Outcome<'a>;
}

/// The outcome of a `Result`, the error described by `message`.
fn of_result<'a, T, E>(
    r: &'a Result<T, E>,
    message: impl FnOnce(&'a E) -> Message<'a>,
) -> Outcome<'a> {
    match r {
        Ok(_) => Outcome::Ok,
        Err(e) => Outcome::Err(ErrorView {
            type_name: std::any::type_name::<E>(),
            message: message(e),
        }),
    }
}

// Method resolution on `(&&&Probe(x)).__pt_outcome()` tries, in order, the
// impls for `&&Probe`, `&&&Probe`, `&Probe`, `Probe`.
impl<'a, T, E: fmt::Display> ProbeDisplay<'a> for &&Probe<'a, Result<T, E>> {
    fn __pt_outcome(&self) -> Outcome<'a> {
        of_result(self.0, |e| Message::Display(e))
    }
}

impl<'a, T, E: fmt::Debug> ProbeDebug<'a> for &&&Probe<'a, Result<T, E>> {
    fn __pt_outcome(&self) -> Outcome<'a> {
        of_result(self.0, |e| Message::Debug(e))
    }
}

impl<'a, T, E> ProbeAny<'a> for &Probe<'a, Result<T, E>> {
    fn __pt_outcome(&self) -> Outcome<'a> {
        of_result(self.0, |_| Message::None)
    }
}

impl<'a, T> ProbeOther<'a> for Probe<'a, T> {
    fn __pt_outcome(&self) -> Outcome<'a> {
        Outcome::Ok
    }
}

/// The short form of an error type name used as the `error_type` tag:
/// the last path segment, generics removed; `Error` keeps its crate or
/// module (`io::Error`, `anyhow::Error`). Writes into `buf`, no allocation.
pub(crate) fn short_type_name<'b>(full: &'static str, buf: &'b mut [u8; 96]) -> &'b str {
    if full.starts_with("alloc::boxed::Box<dyn ") {
        return "BoxDynError";
    }
    let base = full.split('<').next().unwrap_or(full);
    let mut segs = base.rsplit("::");
    let last = segs.next().unwrap_or(base);
    if last != "Error" {
        return last;
    }
    let qualifier = base
        .split("::")
        .find(|s| !matches!(*s, "std" | "core" | "alloc") && *s != "Error");
    let Some(q) = qualifier else {
        return last;
    };
    let n = q.len() + 2 + last.len();
    if n > buf.len() {
        return last;
    }
    buf[..q.len()].copy_from_slice(q.as_bytes());
    buf[q.len()..q.len() + 2].copy_from_slice(b"::");
    buf[q.len() + 2..n].copy_from_slice(last.as_bytes());
    std::str::from_utf8(&buf[..n]).unwrap_or(last)
}

#[cfg(test)]
#[allow(clippy::needless_borrow)] // the probe needs exactly three borrows
mod tests {
    use super::*;

    struct NoFmt;
    #[derive(Debug)]
    struct DebugOnly;

    #[test]
    fn probes_pick_the_richest_message() {
        let r: Result<(), std::io::Error> = Err(std::io::Error::other("disk full"));
        match (&&&Probe(&r)).__pt_outcome() {
            Outcome::Err(e) => assert_eq!(e.to_string(), "disk full"),
            Outcome::Ok => panic!("expected an error"),
        }
        let r: Result<(), DebugOnly> = Err(DebugOnly);
        match (&&&Probe(&r)).__pt_outcome() {
            Outcome::Err(e) => assert_eq!(e.to_string(), "DebugOnly"),
            Outcome::Ok => panic!("expected an error"),
        }
        let r: Result<(), NoFmt> = Err(NoFmt);
        assert!(matches!((&&&Probe(&r)).__pt_outcome(), Outcome::Err(_)));
        let v = 5u8;
        assert!(matches!((&&&Probe(&v)).__pt_outcome(), Outcome::Ok));
    }

    #[test]
    fn short_names() {
        let mut b = [0u8; 96];
        assert_eq!(
            short_type_name("std::io::error::Error", &mut b),
            "io::Error"
        );
        assert_eq!(short_type_name("anyhow::Error", &mut b), "anyhow::Error");
        assert_eq!(
            short_type_name("my_crate::errors::LoadError", &mut b),
            "LoadError"
        );
        assert_eq!(short_type_name("my::Wrapper<u8>", &mut b), "Wrapper");
        assert_eq!(
            short_type_name(
                "alloc::boxed::Box<dyn core::error::Error + core::marker::Send>",
                &mut b
            ),
            "BoxDynError"
        );
    }
}
