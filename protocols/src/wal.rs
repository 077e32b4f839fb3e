//! Write-ahead log records, shared by the protocols that keep a log on disk (`wal_kv`, `raft`).
//!
//! A record is `[magic u32][lsn u64][len u32][checksum u32][payload]`, little-endian. `lsn`
//! is the record's sequence number; the checksum (CRC32C) covers the sequence number and the
//! payload, so a record copied to the wrong place or torn mid-payload does not verify. What a
//! payload says is the protocol's business.

/// Marks the start of a record.
pub const MAGIC: u32 = 0xfa17_0001;
/// Bytes before a record's payload.
pub const HEADER_BYTES: u64 = 20;
/// A record longer than this is corrupt, whatever its length field says.
pub const RECORD_BYTES_MAX: u64 = 64 * 1024;

/// Encodes record number `lsn` holding `payload`.
pub fn encode(lsn: u64, payload: &[u8]) -> Vec<u8> {
    assert!(
        payload.len() as u64 <= RECORD_BYTES_MAX,
        "a record's payload is at most {RECORD_BYTES_MAX} bytes"
    );
    let mut record = Vec::with_capacity(HEADER_BYTES as usize + payload.len());
    record.extend_from_slice(&MAGIC.to_le_bytes());
    record.extend_from_slice(&lsn.to_le_bytes());
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&checksum(lsn, payload).to_le_bytes());
    record.extend_from_slice(payload);
    record
}

/// CRC32C (Castagnoli) of the sequence number (little-endian) followed by the bytes.
pub fn checksum(lsn: u64, bytes: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&lsn.to_le_bytes()), bytes)
}

/// The little-endian `u32` at byte `at`, if the bytes reach that far.
pub fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    bytes
        .get(at..at.checked_add(4)?)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
}

/// The little-endian `u64` at byte `at`, if the bytes reach that far.
pub fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    bytes
        .get(at..at.checked_add(8)?)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

/// What a log holds at an offset.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A valid record (its checksum verified, unless the caller asked not to), ending at `end`.
    Record {
        lsn: u64,
        payload: &'a [u8],
        end: u64,
    },
    /// No valid record here. `claimed_end` is where the header says the record would end,
    /// when the header is plausible.
    Invalid { claimed_end: Option<u64> },
    /// The log ends here.
    End,
}

/// The record at `offset` of `log`; `verify` checks its checksum.
pub fn parse_at(log: &[u8], offset: u64, verify: bool) -> Parsed<'_> {
    let Ok(at) = usize::try_from(offset) else {
        return Parsed::End;
    };
    if at >= log.len() {
        return Parsed::End;
    }
    let header = (
        u32_at(log, at),
        u64_at(log, at + 4),
        u32_at(log, at + 12),
        u32_at(log, at + 16),
    );
    let (Some(magic), Some(lsn), Some(len), Some(sum)) = header else {
        return Parsed::Invalid { claimed_end: None };
    };
    if magic != MAGIC || u64::from(len) > RECORD_BYTES_MAX {
        return Parsed::Invalid { claimed_end: None };
    }
    let end = offset + HEADER_BYTES + u64::from(len);
    let Some(payload) = log.get(at + HEADER_BYTES as usize..end as usize) else {
        return Parsed::Invalid {
            claimed_end: Some(end),
        };
    };
    if verify && checksum(lsn, payload) != sum {
        return Parsed::Invalid {
            claimed_end: Some(end),
        };
    }
    Parsed::Record { lsn, payload, end }
}

/// The records of a log read in order from its start, numbered from 1 without gaps.
#[derive(Debug, PartialEq, Eq)]
pub struct Scan<'a> {
    /// Each valid record's offset and payload, in order; record `i` has sequence number
    /// `i + 1`.
    pub payloads: Vec<(u64, &'a [u8])>,
    /// Where the valid records end: the next record goes here.
    pub end: u64,
    /// Whether bytes follow `end` that are not the next valid record (a torn tail, or damage);
    /// a writer truncates the log at `end` before it appends.
    pub tail: bool,
}

/// Reads `log` from its start up to the first place that is not the next valid record.
pub fn scan(log: &[u8]) -> Scan<'_> {
    let mut payloads = Vec::new();
    let mut offset = 0;
    loop {
        match parse_at(log, offset, true) {
            Parsed::Record { lsn, payload, end } if lsn == payloads.len() as u64 + 1 => {
                payloads.push((offset, payload));
                offset = end;
            }
            Parsed::End => {
                return Scan {
                    payloads,
                    end: offset,
                    tail: false,
                };
            }
            Parsed::Record { .. } | Parsed::Invalid { .. } => {
                return Scan {
                    payloads,
                    end: offset,
                    tail: true,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_tail_is_cut() {
        let mut log = encode(1, b"one");
        log.extend_from_slice(&encode(2, b"two"));
        let whole = log.len() as u64;
        log.extend_from_slice(&encode(3, b"three")[..10]);
        let scan = scan(&log);
        let first = encode(1, b"one").len() as u64;
        assert_eq!(scan.payloads, vec![(0, &b"one"[..]), (first, &b"two"[..])]);
        assert_eq!((scan.end, scan.tail), (whole, true));
        let clean = super::scan(&log[..whole as usize]);
        assert_eq!((clean.end, clean.tail), (whole, false));
    }

    #[test]
    fn a_flipped_bit_or_a_wrong_number_ends_the_scan() {
        let mut log = encode(1, b"one");
        let first = log.len();
        log.extend_from_slice(&encode(2, b"two"));
        let mut flipped = log.clone();
        flipped[first + HEADER_BYTES as usize] ^= 1;
        assert_eq!(scan(&flipped).payloads.len(), 1);
        let mut skipped = encode(1, b"one");
        skipped.extend_from_slice(&encode(3, b"three"));
        let scan = scan(&skipped);
        assert_eq!(
            (scan.payloads.len(), scan.end, scan.tail),
            (1, first as u64, true)
        );
        assert!(matches!(
            parse_at(&flipped, first as u64, false),
            Parsed::Record { lsn: 2, .. }
        ));
    }
}
