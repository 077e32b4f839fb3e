//! Wire encodings of messages. A message crosses a real network as bytes, and the simulator's
//! trace hash covers those same bytes, so every message type says how it is encoded.
//!
//! Any serde type gets bincode 2 (standard configuration: little-endian, variable-length
//! integers) for free. A type serde does not know (generated protobuf types, say) implements
//! [`Wire`] by hand in a newtype around it.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::io;

/// The largest message any host decodes: a longer frame is refused, not allocated.
pub const MESSAGE_BYTES_MAX: usize = 16 << 20;

/// A message's encoding on the wire.
pub trait Wire: Sized {
    /// Writes the encoding to `out`, in as many pieces as it likes; the pieces concatenated
    /// are the encoding. The simulator streams them into its trace hash without allocating.
    fn encode<W: io::Write>(&self, out: &mut W) -> io::Result<()>;

    /// Reads a value back from exactly the bytes `encode` wrote.
    fn decode(bytes: &[u8]) -> Result<Self, WireError>;

    /// The encoding as one buffer.
    fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.encode(&mut bytes)
            .expect("writing to a Vec does not fail");
        bytes
    }
}

/// Why bytes did not decode into a message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WireError(pub String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "undecodable message: {}", self.0)
    }
}

impl std::error::Error for WireError {}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MESSAGE_BYTES_MAX>()
}

impl<T: Serialize + DeserializeOwned> Wire for T {
    fn encode<W: io::Write>(&self, out: &mut W) -> io::Result<()> {
        bincode::serde::encode_into_std_write(self, out, config())
            .map(drop)
            .map_err(io::Error::other)
    }

    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() > MESSAGE_BYTES_MAX {
            return Err(WireError(format!(
                "{} bytes, more than the {MESSAGE_BYTES_MAX} a message may take",
                bytes.len()
            )));
        }
        let (value, read) = bincode::serde::decode_from_slice(bytes, config())
            .map_err(|e| WireError(e.to_string()))?;
        if read != bytes.len() {
            return Err(WireError(format!(
                "{} bytes left over after the message",
                bytes.len() - read
            )));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    enum Sample {
        Ping { id: u64, text: String },
        Pong(Vec<u32>),
    }

    #[test]
    fn serde_types_round_trip_and_refuse_garbage() {
        let values = [
            Sample::Ping {
                id: 7,
                text: "hi".into(),
            },
            Sample::Pong(vec![1, 2, 300]),
        ];
        for value in values {
            let bytes = value.to_bytes();
            assert_eq!(Sample::decode(&bytes).unwrap(), value);
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(Sample::decode(&longer).unwrap_err().0.contains("left over"));
            assert!(Sample::decode(&bytes[..bytes.len() - 1]).is_err());
        }
        // A length prefix that claims far more than the limit is refused without allocating.
        let huge = [1u8, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert!(Sample::decode(&huge).is_err());
    }

    /// The encoding is frozen: the trace hash of every recorded seed covers it.
    #[test]
    fn encoding_is_frozen() {
        let ping = Sample::Ping {
            id: 300,
            text: "ab".into(),
        };
        assert_eq!(ping.to_bytes(), [0, 251, 44, 1, 2, b'a', b'b']);
    }
}
