//! getrandom 0.2's API for simulation builds: inside a simulated handler, bytes come from the
//! node's seeded stream (through `faultline-entropy`); outside one, from the operating system
//! (`/dev/urandom`). Safe code only: `getrandom_uninit`, which needs unsafe code to hand back
//! initialized bytes, is not offered (no common dependent uses it; a build that does fails
//! to compile rather than drawing from the OS unseen).
//!
//! What it cannot cover: randomness that does not go through `getrandom` (std's
//! `RandomState`, which seeds hash maps from the OS directly; raw system calls; the clock).
//! The determinism check still catches those.

#![forbid(unsafe_code)]

use core::fmt;
use core::num::NonZeroU32;

/// getrandom 0.2's error: a non-zero code, OS errors below `INTERNAL_START`.
#[derive(Copy, Clone, Eq, PartialEq)]
pub struct Error(NonZeroU32);

const fn internal_error(n: u16) -> Error {
    match NonZeroU32::new(Error::INTERNAL_START + n as u32) {
        Some(code) => Error(code),
        None => panic!("internal codes are not zero"),
    }
}

impl Error {
    pub const UNSUPPORTED: Error = internal_error(0);
    pub const ERRNO_NOT_POSITIVE: Error = internal_error(1);
    pub const UNEXPECTED: Error = internal_error(2);
    pub const IOS_SEC_RANDOM: Error = internal_error(3);
    pub const WINDOWS_RTL_GEN_RANDOM: Error = internal_error(4);
    pub const FAILED_RDRAND: Error = internal_error(5);
    pub const NO_RDRAND: Error = internal_error(6);
    pub const WEB_CRYPTO: Error = internal_error(7);
    pub const WEB_GET_RANDOM_VALUES: Error = internal_error(8);
    pub const VXWORKS_RAND_SECURE: Error = internal_error(11);
    pub const NODE_CRYPTO: Error = internal_error(12);
    pub const NODE_RANDOM_FILL_SYNC: Error = internal_error(13);
    pub const NODE_ES_MODULE: Error = internal_error(14);
    pub const INTERNAL_START: u32 = 1 << 31;
    pub const CUSTOM_START: u32 = (1 << 31) + (1 << 30);

    /// The OS error code, if the error came from the OS.
    pub fn raw_os_error(self) -> Option<i32> {
        (self.0.get() < Self::INTERNAL_START).then_some(self.0.get() as i32)
    }

    /// The error's code.
    pub const fn code(self) -> NonZeroU32 {
        self.0
    }
}

impl From<NonZeroU32> for Error {
    fn from(code: NonZeroU32) -> Self {
        Error(code)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error {{ code: {} }}", self.0)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.raw_os_error() {
            Some(errno) => write!(f, "OS error {errno}"),
            None => write!(f, "getrandom error {}", self.0),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(error: Error) -> Self {
        match error.raw_os_error() {
            Some(errno) => std::io::Error::from_raw_os_error(errno),
            None => std::io::Error::other(error),
        }
    }
}

/// Fills `dest` with random bytes: the simulated node's stream inside a handler, the OS's
/// elsewhere.
pub fn getrandom(dest: &mut [u8]) -> Result<(), Error> {
    if dest.is_empty() || faultline_entropy::fill(dest) {
        return Ok(());
    }
    faultline_entropy::fill_from_os(dest).map_err(|e| {
        let code = e.raw_os_error().and_then(|n| NonZeroU32::new(n as u32));
        code.map_or(Error::UNEXPECTED, Error)
    })
}

/// getrandom 0.2's custom-backend macro: accepted and ignored (this shim is the backend).
#[macro_export]
macro_rules! register_custom_getrandom {
    ($path:path) => {};
}
