//! The WASI host: filled by the WASI component issue.
