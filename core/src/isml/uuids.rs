//! The `uuid` box types of Smooth live ingest that the fragment writer does not already
//! name (`tfxd` and `tfrf` are in `fragment::moof::traf`).

/// LiveServerManifestBox ([MS-SSTR] 2.2.7.3): A5D40B30-E814-11DD-BA2F-0800200C9A66.
pub const LIVE_SERVER_MANIFEST_UUID: [u8; 16] = [
    0xa5, 0xd4, 0x0b, 0x30, 0xe8, 0x14, 0x11, 0xdd, 0xba, 0x2f, 0x08, 0x00, 0x20, 0x0c, 0x9a, 0x66,
];
