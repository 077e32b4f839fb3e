//! getrandom 0.4's API for simulation builds: inside a simulated handler, bytes come from the
//! node's seeded stream (through `faultline-entropy`); outside one, from the operating system
//! (`/dev/urandom`). With the `sys_rng` feature (rand 0.10 turns it on), [`SysRng`] is
//! rand_core 0.10's `TryRng` over the same draws: it is rand 0.10's `rngs::SysRng`, and what
//! seeds its thread generator (`rand::rng()`). Safe code only: `fill_uninit`, which needs
//! unsafe code to hand back initialized bytes, is not offered (a build that uses it fails to
//! compile rather than drawing from the OS unseen), nor is the nightly-only `implementation`
//! module of the `extern_impl` backend.
//!
//! What it cannot cover: randomness that does not go through `getrandom` (std's
//! `RandomState`, raw system calls, the clock). The determinism check still catches those.

#![forbid(unsafe_code)]

use core::fmt;
use core::num::NonZeroI32;

/// A raw OS error code, as `std::io::Error::raw_os_error` gives it.
pub type RawOsError = i32;

/// getrandom 0.4's error: OS errors as negative codes, the crate's own from 2^16 up.
#[derive(Copy, Clone, Eq, PartialEq)]
pub struct Error(NonZeroI32);

const INTERNAL_START: RawOsError = 1 << 16;
const CUSTOM_START: RawOsError = 1 << 17;

const fn code(code: RawOsError) -> Error {
    match NonZeroI32::new(code) {
        Some(code) => Error(code),
        None => panic!("error codes are not zero"),
    }
}

impl Error {
    /// This target is not supported.
    pub const UNSUPPORTED: Error = code(INTERNAL_START);
    /// The OS's `errno` was not positive.
    pub const ERRNO_NOT_POSITIVE: Error = code(INTERNAL_START + 1);
    /// A situation that should not happen in practice.
    pub const UNEXPECTED: Error = code(INTERNAL_START + 2);

    /// The OS error code, if the error came from the OS.
    #[inline]
    pub fn raw_os_error(self) -> Option<RawOsError> {
        let code = self.0.get();
        if code < 0 {
            code.checked_neg()
        } else {
            None
        }
    }

    /// A user-defined error.
    pub const fn new_custom(n: u16) -> Error {
        code(CUSTOM_START + n as RawOsError)
    }

    fn from_errno(errno: RawOsError) -> Error {
        match errno.checked_neg() {
            Some(neg) if errno > 0 => code(neg),
            _ => Error::ERRNO_NOT_POSITIVE,
        }
    }

    fn internal_desc(self) -> Option<&'static str> {
        match self {
            Error::UNSUPPORTED => Some("getrandom: this target is not supported"),
            Error::ERRNO_NOT_POSITIVE => Some("errno: did not return a positive value"),
            Error::UNEXPECTED => Some("unexpected situation"),
            _ => None,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut dbg = f.debug_struct("Error");
        if let Some(errno) = self.raw_os_error() {
            dbg.field("os_error", &errno);
            dbg.field("description", &std::io::Error::from_raw_os_error(errno));
        } else if let Some(desc) = self.internal_desc() {
            dbg.field("internal_code", &self.0.get());
            dbg.field("description", &desc);
        } else {
            dbg.field("unknown_code", &self.0.get());
        }
        dbg.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(errno) = self.raw_os_error() {
            std::io::Error::from_raw_os_error(errno).fmt(f)
        } else if let Some(desc) = self.internal_desc() {
            f.write_str(desc)
        } else {
            write!(f, "Unknown Error: {}", self.0.get())
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
#[inline]
pub fn fill(dest: &mut [u8]) -> Result<(), Error> {
    if dest.is_empty() || faultline_entropy::fill(dest) {
        return Ok(());
    }
    faultline_entropy::fill_from_os(dest).map_err(|e| {
        e.raw_os_error()
            .map_or(Error::UNEXPECTED, Error::from_errno)
    })
}

/// A random `u32`.
#[inline]
pub fn u32() -> Result<u32, Error> {
    let mut bytes = [0u8; 4];
    fill(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

/// A random `u64`.
#[inline]
pub fn u64() -> Result<u64, Error> {
    let mut bytes = [0u8; 8];
    fill(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

#[cfg(feature = "sys_rng")]
pub use rand_core;

/// rand_core 0.10's `TryRng` over [`fill`], [`u32()`] and [`u64()`] (feature `sys_rng`): rand
/// 0.10's `rngs::SysRng`, from which its thread generator seeds itself.
#[cfg(feature = "sys_rng")]
#[derive(Clone, Copy, Debug, Default)]
pub struct SysRng;

#[cfg(feature = "sys_rng")]
impl rand_core::TryRng for SysRng {
    type Error = Error;

    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Error> {
        u32()
    }

    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Error> {
        u64()
    }

    #[inline]
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Error> {
        fill(dest)
    }
}

#[cfg(feature = "sys_rng")]
impl rand_core::TryCryptoRng for SysRng {}
