//! Sans-IO protocol state machines, written against sim's protocol-facing API
