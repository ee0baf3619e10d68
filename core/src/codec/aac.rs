//! AAC: AudioSpecificConfig and ADTS headers.
