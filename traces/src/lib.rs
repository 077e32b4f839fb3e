//! Trace rendering and trace snapshot tests
