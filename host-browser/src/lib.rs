//! The browser host: filled by the browser package issue.
