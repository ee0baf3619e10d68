//! MPEG-TS demuxer.
use super::{DemuxError, DemuxEvent, Demuxer};

pub struct TsDemuxer {}
impl TsDemuxer {
    pub fn new() -> Self {
        Self {}
    }
}
impl Demuxer for TsDemuxer {
    fn push(&mut self, _data: &[u8]) -> Result<(), DemuxError> {
        Ok(())
    }
    fn finish(&mut self) -> Result<(), DemuxError> {
        Ok(())
    }
    fn poll(&mut self) -> Option<DemuxEvent> {
        None
    }
}
