//! What a stage returned, told apart at compile time (autoref
//! specialisation): a `Result` whose error names its own `error_type`
//! ([`ErrorType`]), is a `std::error::Error` (its `source()` chain is
//! read to tell a passed-on failure), `Display`, `Debug` or neither, or any
//! other type (which never counts as an error).

use std::fmt;

use crate::error_type::error_type_name;
use crate::ErrorType;

/// How a stage ended.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// It returned a value that is not an error.
    Ok,
    /// It returned `Err`.
    Err(ErrorView<'a>),
}

/// A view of a stage's error: its `error_type` and, when it has one, its
/// message.
#[derive(Clone, Copy)]
pub struct ErrorView<'a> {
    pub(crate) error_type: &'static str,
    pub(crate) message: Message<'a>,
}

#[derive(Clone, Copy)]
pub(crate) enum Message<'a> {
    Error(&'a dyn std::error::Error),
    Display(&'a dyn fmt::Display),
    Debug(&'a dyn fmt::Debug),
    None,
}

impl fmt::Debug for ErrorView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorView")
            .field("error_type", &self.error_type)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ErrorView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message {
            Message::Error(e) => fmt::Display::fmt(e, f),
            Message::Display(d) => d.fmt(f),
            Message::Debug(d) => d.fmt(f),
            Message::None => f.write_str(self.error_type),
        }
    }
}

impl<'a> ErrorView<'a> {
    /// A view of an error value, named by its type
    /// ([`error_type_name`](crate::error_type_name)).
    pub fn new<E: fmt::Display>(e: &'a E) -> Self {
        ErrorView {
            error_type: error_type_name::<E>(),
            message: Message::Display(e),
        }
    }

    /// A view of a `std::error::Error`, named by its type; its `source()`
    /// chain tells whether it passes on the failure of a stage inside.
    pub fn error<E: std::error::Error>(e: &'a E) -> Self {
        ErrorView {
            error_type: error_type_name::<E>(),
            message: Message::Error(e),
        }
    }

    /// A view of an error that names its own `error_type`.
    pub fn typed<E: ErrorType>(e: &'a E) -> Self {
        ErrorView {
            error_type: e.error_type(),
            message: Message::Display(e),
        }
    }

    /// A panic, with its message.
    pub(crate) fn panic(message: &'a &'a str) -> Self {
        ErrorView {
            error_type: "panic",
            message: Message::Display(message),
        }
    }

    /// The error's `error_type`: what `pipeline.errors` is tagged with and
    /// the span's `error.type`.
    pub fn error_type(&self) -> &'static str {
        self.error_type
    }

    /// The error's `error_type` (the former name of
    /// [`error_type`](Self::error_type)).
    #[deprecated(since = "0.1.0", note = "renamed `error_type`")]
    pub fn type_name(&self) -> &'static str {
        self.error_type
    }
}

/// Wraps a stage's return value for the probe.
#[derive(Debug)]
pub struct Probe<'a, T>(pub &'a T);

/// `Result<T, E: ErrorType>`: error with its own `error_type`.
pub trait ProbeTyped<'a> {
    /// The outcome.
    fn __pt_outcome(&self) -> Outcome<'a>;
}
/// `Result<T, E: std::error::Error>`: error with its message and its
/// `source()` chain.
pub trait ProbeError<'a> {
    /// The outcome.
    fn __pt_outcome(&self) -> Outcome<'a>;
}
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
            error_type: error_type_name::<E>(),
            message: message(e),
        }),
    }
}

// Method resolution on `(&&&&&Probe(x)).__pt_outcome()` tries, in order,
// the impls for `&&&&Probe`, `&&&&&Probe`, `&&&Probe`, `&&Probe`, `&Probe`,
// `Probe`.
impl<'a, T, E: ErrorType> ProbeTyped<'a> for &&&&Probe<'a, Result<T, E>> {
    fn __pt_outcome(&self) -> Outcome<'a> {
        match self.0 {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Err(ErrorView::typed(e)),
        }
    }
}

impl<'a, T, E: std::error::Error> ProbeError<'a> for &&&&&Probe<'a, Result<T, E>> {
    fn __pt_outcome(&self) -> Outcome<'a> {
        of_result(self.0, |e| Message::Error(e))
    }
}

impl<'a, T, E: fmt::Display> ProbeDisplay<'a> for &&&Probe<'a, Result<T, E>> {
    fn __pt_outcome(&self) -> Outcome<'a> {
        of_result(self.0, |e| Message::Display(e))
    }
}

impl<'a, T, E: fmt::Debug> ProbeDebug<'a> for &&Probe<'a, Result<T, E>> {
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

#[cfg(test)]
#[allow(clippy::needless_borrow)] // the probe needs exactly five borrows
mod tests {
    use super::*;

    struct NoFmt;
    #[derive(Debug)]
    struct DebugOnly;
    #[derive(Debug)]
    struct Exit3;
    impl fmt::Display for Exit3 {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("exited with 3")
        }
    }
    impl ErrorType for Exit3 {
        fn error_type(&self) -> &'static str {
            "exit_3"
        }
    }

    #[test]
    fn probes_pick_the_richest_message() {
        let r: Result<(), std::io::Error> = Err(std::io::Error::other("disk full"));
        match (&&&&&Probe(&r)).__pt_outcome() {
            Outcome::Err(e) => {
                assert_eq!(e.to_string(), "disk full");
                assert_eq!(e.error_type(), "io::Error");
            }
            Outcome::Ok => panic!("expected an error"),
        }
        let r: Result<(), DebugOnly> = Err(DebugOnly);
        match (&&&&&Probe(&r)).__pt_outcome() {
            Outcome::Err(e) => assert_eq!(e.to_string(), "DebugOnly"),
            Outcome::Ok => panic!("expected an error"),
        }
        let r: Result<(), Exit3> = Err(Exit3);
        match (&&&&&Probe(&r)).__pt_outcome() {
            Outcome::Err(e) => {
                assert_eq!(e.error_type(), "exit_3", "an ErrorType names itself");
                assert_eq!(e.to_string(), "exited with 3");
            }
            Outcome::Ok => panic!("expected an error"),
        }
        let r: Result<(), NoFmt> = Err(NoFmt);
        assert!(matches!((&&&&&Probe(&r)).__pt_outcome(), Outcome::Err(_)));
        let v = 5u8;
        assert!(matches!((&&&&&Probe(&v)).__pt_outcome(), Outcome::Ok));
    }
}
