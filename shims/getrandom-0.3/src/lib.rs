//! getrandom 0.3's API for simulation builds: inside a simulated handler, bytes come from the
//! node's seeded stream (through `faultline-entropy`); outside one, from the operating system
//! (`/dev/urandom`). Safe code only: `fill_uninit`, which needs unsafe code to hand back
//! initialized bytes, is not offered (a build that uses it fails to compile rather than
//! drawing from the OS unseen).
//!
//! What it cannot cover: randomness that does not go through `getrandom` (std's
//! `RandomState`, raw system calls, the clock). The determinism check still catches those.

#![forbid(unsafe_code)]

use core::fmt;
use core::num::NonZeroI32;

/// getrandom 0.3's error: OS errors as negative codes, the crate's own from 2^16 up.
#[derive(Copy, Clone, Eq, PartialEq)]
pub struct Error(NonZeroI32);

const INTERNAL_START: i32 = 1 << 16;
const CUSTOM_START: i32 = 1 << 17;

const fn code(code: i32) -> Error {
    match NonZeroI32::new(code) {
        Some(code) => Error(code),
        None => panic!("error codes are not zero"),
    }
}

impl Error {
    pub const UNSUPPORTED: Error = code(INTERNAL_START);
    pub const ERRNO_NOT_POSITIVE: Error = code(INTERNAL_START + 1);
    pub const UNEXPECTED: Error = code(INTERNAL_START + 2);

    /// The OS error code, if the error came from the OS.
    pub fn raw_os_error(self) -> Option<i32> {
        let code = self.0.get();
        if code < 0 {
            code.checked_neg()
        } else {
            None
        }
    }

    /// A user-defined error.
    pub const fn new_custom(n: u16) -> Error {
        code(CUSTOM_START + n as i32)
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
pub fn fill(dest: &mut [u8]) -> Result<(), Error> {
    if dest.is_empty() || faultline_entropy::fill(dest) {
        return Ok(());
    }
    faultline_entropy::fill_from_os(dest).map_err(|e| {
        let errno = e.raw_os_error().and_then(|n| n.checked_neg());
        errno.map_or(Error::UNEXPECTED, code)
    })
}

/// A random `u32`.
pub fn u32() -> Result<u32, Error> {
    let mut bytes = [0u8; 4];
    fill(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

/// A random `u64`.
pub fn u64() -> Result<u64, Error> {
    let mut bytes = [0u8; 8];
    fill(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}
