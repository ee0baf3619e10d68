//! MP4 demuxer (progressive and fragmented).
use super::{DemuxError, DemuxEvent, Demuxer};

pub struct Mp4Demuxer {}
impl Mp4Demuxer {
    pub fn new(_seekable: bool) -> Self {
        Self {}
    }
}
impl Demuxer for Mp4Demuxer {
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
