//! FLV tag demuxer.
use super::{DemuxError, DemuxEvent, Demuxer};

pub struct FlvDemuxer {}
impl FlvDemuxer {
    pub fn new() -> Self {
        Self {}
    }
}
impl Demuxer for FlvDemuxer {
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
