//! H.264: SPS parsing for picture size, Annex B <-> 4-byte length-prefixed conversion.
