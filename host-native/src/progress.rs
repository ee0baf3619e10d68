//! A one-line progress bar on stderr, shown only on a terminal (quiet in scripts and CI).
//! Hand-written: it is a dozen lines, not worth a dependency.

use std::io::{IsTerminal, Write};

pub struct Progress {
    enabled: bool,
    label: String,
    total: u64,
    last_percent: Option<u64>,
}

impl Progress {
    pub fn new(label: &str, total: u64) -> Self {
        Self {
            enabled: std::io::stderr().is_terminal() && total > 0,
            label: label.to_string(),
            total,
            last_percent: None,
        }
    }

    pub fn set(&mut self, done: u64) {
        if !self.enabled {
            return;
        }
        let percent = done.min(self.total) * 100 / self.total;
        if self.last_percent == Some(percent) {
            return;
        }
        self.last_percent = Some(percent);
        let filled = (percent / 4) as usize;
        let bar = format!("{}{}", "#".repeat(filled), " ".repeat(25 - filled));
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r[{bar}] {percent:3}% {}", self.label);
        let _ = err.flush();
    }

    pub fn done(&mut self) {
        if self.enabled && self.last_percent.is_some() {
            let _ = writeln!(std::io::stderr());
        }
    }
}
