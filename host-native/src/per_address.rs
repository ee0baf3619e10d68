//! Connections per peer address: a listener's global cap keeps the server within its files,
//! but one address could still take every slot (1,100 one-byte RTMP handshakes lock out a
//! real publisher). Each listener that takes connections from the outside keeps one of
//! these beside its global cap.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Refusals are reported at most this often (a flood of refused connections must not
/// become a flood of log lines).
const REPORT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Counts open connections by peer address, up to a maximum each. Clones share the counts.
#[derive(Clone)]
pub struct PerAddress {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    max: usize,
    /// When a refusal was last reported, and how many came since.
    reported: Arc<Mutex<(Option<std::time::Instant>, u64)>>,
}

/// One connection's place in its address's count; released on drop.
pub struct AddressSlot {
    owner: PerAddress,
    ip: IpAddr,
}

impl PerAddress {
    /// `max` connections per address; 0 means no per-address limit.
    pub fn new(max: usize) -> Self {
        Self {
            counts: Arc::default(),
            max,
            reported: Arc::default(),
        }
    }

    /// Counts a refusal; `Some(n)` when it should be reported now, `n` being the refusals
    /// since the last report (this one included).
    pub fn refused(&self) -> Option<u64> {
        let mut r = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        r.1 += 1;
        if r.0.is_some_and(|t| t.elapsed() < REPORT_INTERVAL) {
            return None;
        }
        r.0 = Some(std::time::Instant::now());
        Some(std::mem::take(&mut r.1))
    }

    pub fn max(&self) -> usize {
        self.max
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for one more connection from `ip`, or `None` when it already holds the maximum.
    pub fn try_acquire(&self, ip: IpAddr) -> Option<AddressSlot> {
        let mut counts = self.lock();
        let n = counts.entry(ip).or_insert(0);
        if self.max != 0 && *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            owner: self.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.owner.lock();
        if let Some(n) = counts.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_count() {
        let p = PerAddress::new(2);
        let a: IpAddr = "127.0.0.2".parse().expect("ip");
        let b: IpAddr = "127.0.0.1".parse().expect("ip");
        let first = p.try_acquire(a).expect("1st");
        let _second = p.try_acquire(a).expect("2nd");
        assert!(p.try_acquire(a).is_none(), "a third from the same address");
        assert!(
            p.try_acquire(b).is_some(),
            "another address is not affected"
        );
        drop(first);
        assert!(
            p.try_acquire(a).is_some(),
            "a slot frees when its connection ends"
        );
        assert!(PerAddress::new(0).try_acquire(a).is_some(), "0: no limit");
        assert_eq!(p.refused(), Some(1), "the first refusal is reported");
        assert_eq!(p.refused(), None, "then not for a while");
        assert_eq!(p.refused(), None);
    }
}
