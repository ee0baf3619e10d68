//! Bitrates measured from the media, for hosts that are not told one: the one place that
//! counts bytes over time.
//!
//! Two measures, because they answer two questions: [`Measure`] is a whole input's bitrate
//! (the packaging session's, exact to the bit/s, stated by an MP4 or counted over a whole
//! pass); [`window_bitrate`] is a live input's, from the first seconds held before its
//! quality level is added, rounded to 1 kbit/s as EMS announces live bitrates.

mod pass;
mod window;

pub use pass::{Measure, Observed};
pub use window::{window_bitrate, window_seconds, Held};
