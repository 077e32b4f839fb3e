//! RPC (issue 6): being written.
