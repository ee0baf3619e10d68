//! Timescales. Every time the core hands out is in [`MSS_TIMESCALE`] units.
//!
//! Times are kept in their source timescale and converted once, at the point of use, so that
//! hours of 90 kHz or 1/48000 s ticks never accumulate rounding drift: a duration is always the
//! difference of two converted instants, never a sum of converted durations.

/// Smooth Streaming's timescale: 100 ns ticks.
pub const MSS_TIMESCALE: u64 = 10_000_000;

/// Converts `t` ticks of `timescale` to 10 MHz ticks, rounding to nearest (half away from zero).
///
/// `timescale` of 0 is treated as 1 so that hostile input cannot divide by zero.
pub fn to_mss(t: i64, timescale: u32) -> i64 {
    let ts = i128::from(timescale.max(1));
    let num = i128::from(t) * i128::from(MSS_TIMESCALE);
    let q = if num >= 0 {
        (num + ts / 2) / ts
    } else {
        (num - ts / 2) / ts
    };
    // Saturate rather than wrap: only absurd inputs reach the bounds.
    q.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Converts 10 MHz ticks to milliseconds (floor), as EMS names live files.
pub fn mss_to_ms(t: u64) -> u64 {
    t / 10_000
}

/// Seconds (possibly fractional, given as a rational) to 10 MHz ticks.
pub fn secs_to_mss(num: u64, den: u64) -> u64 {
    let den = den.max(1);
    ((u128::from(num) * u128::from(MSS_TIMESCALE)) / u128::from(den)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_common_timescales_exactly() {
        assert_eq!(to_mss(90_000, 90_000), 10_000_000);
        assert_eq!(to_mss(1024, 48_000), 213_333);
        assert_eq!(to_mss(-1024, 48_000), -213_333);
        assert_eq!(to_mss(1, 0), 10_000_000);
    }

    #[test]
    fn no_drift_over_hours() {
        // 10 hours of 29.97 fps video at timescale 30000 (1001 ticks a frame).
        let frames = 10 * 3600 * 30;
        let end = to_mss(frames * 1001, 30_000);
        let mut sum = 0i64;
        for i in 0..frames {
            sum += to_mss((i + 1) * 1001, 30_000) - to_mss(i * 1001, 30_000);
        }
        assert_eq!(sum, end);
    }
}
