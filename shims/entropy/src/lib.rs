//! The hook between a host and the `getrandom` shims (`shims/getrandom-*`): while a node's
//! handler runs, the host puts the node's entropy state here ([`enter`], [`leave`]), and a
//! shim's `getrandom` draws from it ([`fill`]) instead of the operating system. So a
//! third-party crate that calls `rand::thread_rng()` or `getrandom` inside a handler draws
//! from the run's seed. Outside a handler there is no state, [`fill`] says so, and the shim
//! passes through to the operating system ([`fill_from_os`]; tools such as proptest keep working).
//!
//! No dependencies and no unsafe code: the state is one `u64` in a thread-local, advanced by
//! SplitMix64.

use std::cell::Cell;

thread_local! {
    static STATE: Cell<Option<u64>> = const { Cell::new(None) };
}

/// The host, before a handler: the node's entropy state.
#[inline]
pub fn enter(state: u64) {
    STATE.set(Some(state));
}

/// The host, after the handler: the state as the handler's draws left it (`None` if no
/// handler was running).
#[inline]
pub fn leave() -> Option<u64> {
    STATE.take()
}

/// A shim: fills `dest` from the running handler's stream; `false` (and `dest` untouched)
/// outside a handler.
pub fn fill(dest: &mut [u8]) -> bool {
    let Some(mut state) = STATE.get() else {
        return false;
    };
    for chunk in dest.chunks_mut(8) {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
    }
    STATE.set(Some(state));
    true
}

/// A shim, outside a handler: fills `dest` from the operating system (`/dev/urandom`).
pub fn fill_from_os(dest: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_follow_the_state_and_stop_outside_a_handler() {
        let mut outside = [7u8; 4];
        assert!(!fill(&mut outside));
        assert_eq!(outside, [7; 4]);
        let draw = |state| {
            enter(state);
            let mut bytes = [0u8; 11];
            assert!(fill(&mut bytes));
            (bytes, leave())
        };
        assert_eq!(draw(5), draw(5));
        assert_ne!(draw(5).0, draw(6).0);
        assert_ne!(draw(5).1, Some(5), "the state moves on");
        assert_eq!(leave(), None);
    }
}
