//! Merges the sample sources (progressive sample tables, fragment track runs) into file-offset
//! order, so each sample can be cut from the byte stream as it passes, without buffering mdat.

use alloc::vec::Vec;

use super::moof::traf::TrunCursor;
use super::moov::trak::stbl::TableCursor;
use crate::demux::DemuxError;

/// Where one sample's bytes are and what its timing is, in its track's timescale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    pub offset: u64,
    pub size: u32,
    pub dts: i64,
    pub cts_offset: i64,
    pub duration: u32,
    pub keyframe: bool,
}

impl Meta {
    /// The byte after the sample; saturates (a sample that far out is never reached anyway).
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(u64::from(self.size))
    }
}

pub(crate) enum Cursor {
    Table(TableCursor),
    Run(TrunCursor),
}

impl Cursor {
    fn next(&mut self) -> Result<Option<Meta>, DemuxError> {
        match self {
            Cursor::Table(c) => c.next(),
            Cursor::Run(c) => c.next(),
        }
    }
}

struct Source {
    /// Index into the demuxer's supported tracks.
    track: usize,
    cursor: Cursor,
    head: Meta,
}

/// The pending samples of all sources. Sources are few (one per track, or one per track run
/// of the current fragment), so a linear scan for the minimum beats a heap.
#[derive(Default)]
pub(crate) struct Scheduler {
    sources: Vec<Source>,
    /// The furthest byte any pending source was declared to reach, for truncation messages.
    pub expected_end: u64,
}

impl Scheduler {
    pub fn add(&mut self, track: usize, mut cursor: Cursor, end: u64) -> Result<(), DemuxError> {
        if let Some(head) = cursor.next()? {
            self.expected_end = self.expected_end.max(end);
            self.sources.push(Source {
                track,
                cursor,
                head,
            });
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The next sample in file order (ties: the source added first) and its track.
    pub fn peek(&self) -> Option<(usize, Meta)> {
        self.min_index()
            .map(|i| (self.sources[i].track, self.sources[i].head))
    }

    /// Consumes the sample [`Self::peek`] returned.
    pub fn advance(&mut self) -> Result<(), DemuxError> {
        let Some(i) = self.min_index() else {
            return Ok(());
        };
        match self.sources[i].cursor.next()? {
            Some(head) => self.sources[i].head = head,
            None => {
                self.sources.remove(i);
            }
        }
        Ok(())
    }

    fn min_index(&self) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, s) in self.sources.iter().enumerate() {
            if best.is_none_or(|b| s.head.offset < self.sources[b].head.offset) {
                best = Some(i);
            }
        }
        best
    }
}
