#!/usr/bin/env python3
"""Regenerates the checked-in seed corpora (fuzz/corpus/<target>/) from media/demo.mp4.

Needs ffmpeg and a built `smoothcast` binary (for packaged fragments and a manifest):
    fuzz/make-seeds.py [path/to/smoothcast]
Seeds are small on purpose (the whole corpus stays well under 2 MB). Demuxer and RTMP
targets take their push size from an input's last two bytes, so those seeds end in two
extra bytes (little-endian piece size - 1).
"""
import base64, os, struct, subprocess, sys, tempfile, glob

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(here)
demo = os.path.join(repo, "media", "demo.mp4")
smoothcast = sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "target", "debug", "smoothcast")
work = tempfile.mkdtemp(prefix="fuzz-seeds-")


def ff(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def p(name):
    return os.path.join(work, name)


def put(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(name):
    with open(p(name), "rb") as f:
        return f.read()


def split(n):
    return struct.pack("<H", n - 1)


def boxes(data, path):
    """Finds the first box at a path like [b'moov', b'trak', ...] (descending containers)."""
    pos, want = 0, path[0]
    while pos + 8 <= len(data):
        size, typ = struct.unpack(">I4s", data[pos:pos + 8])
        if size < 8:
            return None
        if typ == want:
            body = data[pos + 8:pos + size]
            return body if len(path) == 1 else boxes(body, path[1:])
        pos += size
    return None


# Media: 1.2 s of 96x64 H.264 High (B-frames) + mono AAC, in every container.
ff("-i", demo, "-t", "1.2", "-vf", "scale=96:64", "-c:v", "libx264", "-g", "10", "-bf", "2",
   "-b:v", "40k", "-c:a", "aac", "-b:a", "24k", "-ac", "1", "-ar", "22050", p("moov-last.mp4"))
ff("-i", p("moov-last.mp4"), "-c", "copy", "-movflags", "+faststart", p("faststart.mp4"))
ff("-i", p("moov-last.mp4"), "-c", "copy", "-movflags", "frag_keyframe+empty_moov+default_base_moof", p("frag.mp4"))
ff("-i", p("moov-last.mp4"), "-c", "copy", "-f", "mpegts", p("small.ts"))
ff("-i", p("moov-last.mp4"), "-c", "copy", "-f", "flv", p("small.flv"))
ff("-i", demo, "-t", "0.3", "-vf", "scale=64:48", "-c:v", "libx264", "-profile:v", "baseline", "-g", "5", "-an", p("base.mp4"))
ff("-i", demo, "-t", "0.3", "-vf", "scale=64:48", "-c:v", "libx264", "-profile:v", "baseline", "-g", "5", "-an",
   "-bsf:v", "h264_mp4toannexb", "-f", "h264", p("base.h264"))
ff("-i", demo, "-t", "0.2", "-vn", "-c:a", "aac", "-b:a", "24k", "-f", "adts", p("small.aac"))

for name in ["moov-last.mp4", "faststart.mp4", "base.mp4"]:
    put("mp4", name, read(name) + split(4096))
    put("mp4_seekable", name, read(name) + split(65536))
    put("jit_index", name, read(name))
put("mp4", "faststart-small-pieces.mp4", read("faststart.mp4") + split(7))
put("fmp4", "frag.mp4", read("frag.mp4") + split(4096))
put("fmp4", "frag-small-pieces.mp4", read("frag.mp4") + split(100))
# The Smooth ingest body ffmpeg POSTs (media/ingest_ffmpeg.ismv, captured from the wire).
ingest = open(os.path.join(repo, "media", "ingest_ffmpeg.ismv"), "rb").read()
put("smooth_ingest", "ffmpeg.ismv", ingest + split(4096))
put("smooth_ingest", "ffmpeg-small-pieces.ismv", ingest + split(7))
put("ts", "small.ts", read("small.ts") + split(188 * 7))
put("ts", "small-pieces.ts", read("small.ts") + split(100))
put("flv", "small.flv", read("small.flv") + split(4096))
put("flv", "small-pieces.flv", read("small.flv") + split(13))

# H.264: SPS (selector 0), avcC (1), SPS/PPS pair (2), Annex B (3), length-prefixed (4).
for name in ["faststart.mp4", "base.mp4"]:
    stsd = boxes(read(name), [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"])
    avc1 = stsd[8:]
    avcc = boxes(avc1[8 + 78:], [b"avcC"])
    sps_len = struct.unpack(">H", avcc[6:8])[0]
    sps = avcc[8:8 + sps_len]
    pps_len = struct.unpack(">H", avcc[9 + sps_len:11 + sps_len])[0]
    pps = avcc[11 + sps_len:11 + sps_len + pps_len]
    stem = name.split(".")[0]
    put("h264", stem + "-sps", b"\x00" + sps)
    put("h264", stem + "-avcc", b"\x01" + avcc)
    put("h264", stem + "-sps-pps", b"\x02" + sps + b"\xff" + pps)
    put("rtp", stem + "-avcc", avcc)
put("h264", "sps-720p", b"\x00" + bytes.fromhex("6764001facd9405005bb016a02020280000003008000001e07"))
put("h264", "sps-crop-overflow", b"\x00" + bytes.fromhex("6742001eddf000000300100000 03003e".replace(" ", "")))
put("h264", "sps-crop-overflow-2", b"\x00\x67" + base64.b64decode("/////3oLAAAAAL6+vr6+vno="))
put("h264", "annexb", b"\x03" + read("base.h264")[:1500])
put("h264", "length-prefixed", b"\x04\x04" + boxes(read("base.mp4"), [b"mdat"])[:1500])

# AAC: AudioSpecificConfigs (selector 0) and ADTS headers (1).
for name, asc in [("lc-48k-stereo", "1190"), ("lc-22k-mono", "1388"), ("he-sbr-explicit", "2b920800"),
                  ("he-sync-ext", "13102b0a8c"), ("hev2-ps", "eb098800"), ("esc-rate", "17801f4000")]:
    put("aac", "asc-" + name, b"\x00" + bytes.fromhex(asc))
put("aac", "adts", b"\x01" + read("small.aac")[:64])

# Packaged fragments and a manifest, for the fragment, manifest and iis targets.
subprocess.run([smoothcast, "package", "--target-folder", p("out"), "--group-name", "g",
                "--chunk-length", "1", p("faststart.mp4")], check=True, stdout=subprocess.DEVNULL)
frags = sorted(glob.glob(p("out/g/**/*.fmp4"), recursive=True), key=os.path.getsize)
for f in frags[:3]:
    put("fragment", os.path.basename(os.path.dirname(os.path.dirname(f))) + "-" + os.path.basename(f),
        open(f, "rb").read())
manifest = open(p("out/g/manifest.ismc"), "rb").read()
put("manifest", "packaged.ismc", manifest)
put("manifest", "live.ismc", manifest.replace(b'MajorVersion="2"', b'MajorVersion="2" IsLive="TRUE" LookAheadFragmentCount="2" DVRWindowLength="0"'))
put("manifest", "repeat.ismc", b'<?xml version="1.0"?><SmoothStreamingMedia MajorVersion="2" MinorVersion="2" Duration="40000000" TimeScale="10000000"><StreamIndex Type="video" Chunks="2" QualityLevels="1" Url="QualityLevels({bitrate})/Fragments(video={start time})"><QualityLevel Index="0" Bitrate="100000" FourCC="H264" MaxWidth="96" MaxHeight="64" CodecPrivateData="000000016764000AACD9"/><c t="0" d="20000000" r="2"/></StreamIndex></SmoothStreamingMedia>')

# Host parsers.
lines = [
    b"version",
    b"listStreams",
    b"createMSSStream localStreamNames=a,b bitrates=100000,200000 targetFolder=/tmp/x groupName=g chunkLength=2 chunkOnIDR=1 playlistType=rolling playlistLength=10 staleRetentionCount=2 keepAlive=1 cleanupDestination=0",
    b'pullStream uri=rtmp://127.0.0.1/live/a localStreamName="my stream" keepAlive=1 commandId=7',
    b"removeConfig id=3 removeHlsHdsFiles=1",
    b"shutdownStream localStreamName=a permanently=1",
    b"createMSSStream localStreamNames=a targetFolder='C:\\a b' groupName=g manifestName=m.ismc",
]
for i, l in enumerate(lines):
    put("api_line", "line-%d" % i, l)
    cmd, _, params = l.partition(b" ")
    put("http_request_line", "query-%d" % i, b"/" + cmd + b"?params=" + base64.b64encode(params))
    put("http_request_line", "proxied-%d" % i, b"/ems/" + cmd + b"%3f" + base64.urlsafe_b64encode(params).rstrip(b"="))
for i, u in enumerate([b"/g/manifest.ismc", b"/g/a/video/100000/0.fmp4", b"/g%2Fx/..%2f..%2fetc/passwd",
                       b"/g/a.ism/Manifest", b"/g/a.isml/QualityLevels(100000)/Fragments(video=20000000)",
                       b"/g/QualityLevels(57688)/FragmentInfo(audio=0)", b"/a/%e9t%C3%A9/b?x=1#f"]):
    put("web_segments", "path-%d" % i, u)
    put("iis", "path-%d" % i, u)
for i, h in enumerate([
        b"GET /vod/manifest.ismc HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip, br\r\n\r\n",
        b"GET /live/QualityLevels(500000)/Fragments(video=0) HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99\r\n"
        b"If-None-Match: \"a\"\r\nConnection: close\r\n\r\nGET / HTTP/1.0\r\n\r\n",
        b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n"
        b"Connection: Upgrade\r\n\r\nabc"]):
    put("web_head", "head-%d" % i, h)
for i, r in enumerate([b"bytes=0-99", b"bytes=100-", b"bytes=-500", b"bytes=0-0,5-9", b" bytes=18446744073709551615-"]):
    put("range", "range-%d" % i, struct.pack("<Q", 1000) + r)
put("config_lua", "ems.lua", b"""-- EMS config.lua, abridged
configuration=
{
\tdaemon=false,
\tpathSeparator="/",
\tlogAppenders={ { name="console appender", type="coloredConsole", level=6 }, },
\tapplications=
\t{
\t\trootDirectory="applications",
\t\t{
\t\t\tdescription="EVOSTREAM MEDIA SERVER",
\t\t\tname="evostreamms",
\t\t\tprotocol="dynamiclinklibrary",
\t\t\tdefault=true,
\t\t\tacceptors=
\t\t\t{
\t\t\t\t{ ip="0.0.0.0", port=1935, protocol="inboundRtmp" },
\t\t\t\t{ ip="127.0.0.1", port=1112, protocol="inboundJsonCli", useLengthPadding=true },
\t\t\t\t{ ip="0.0.0.0", port=9999, protocol="inboundTcpTs" },
\t\t\t},
\t\t\tautoMSS={ enabled=true, targetFolder="..\\\\evo-webroot", chunkLength=2, playlistLength=10, fileLength=1024*1024 },
\t\t\tmediaFolder="../media",
\t\t},
\t},
}
""")
put("config_toml", "server.toml", b"""bind = "127.0.0.1"
rtmp_port = 1935
web_port = 8888
webroot = "evo-webroot"
allowed_output_roots = ["/tmp/out"]

[auto_mss]
target_folder = "evo-webroot"
chunk_length = 2
playlist_length = 10
""")
# RTMP chunk streams (after the handshake): ffmpeg's connect command as captured, then a
# SetChunkSize and the FLV file's tags as RTMP messages, at chunk sizes 128 and 4096.
CONNECT = bytes.fromhex(
    "0300000000008c1400000000020007636f6e6e656374003ff00000000000000300036170"
    "700200046c69766500047479706502000a6e6f6e707269766174650008666c6173685665"
    "72020024464d4c452f332e302028636f6d70617469626c653b204c61766635392e32372e"
    "313030290005746355726c02001b72746d703a2f2f3132372e302e302e313a33c3353639"
    "352f6c697665000009"
)


def rtmp_message(csid, typ, ts, stream, payload, chunk):
    out = bytes([csid]) + struct.pack(">I", ts)[1:] + struct.pack(">I", len(payload))[1:] \
        + bytes([typ]) + struct.pack("<I", stream)
    for i in range(0, len(payload), chunk):
        if i:
            out += bytes([0xC0 | csid])
        out += payload[i:i + chunk]
    return out


def flv_tags(flv):
    pos = struct.unpack(">I", flv[5:9])[0] + 4
    while pos + 11 <= len(flv):
        typ = flv[pos]
        size = struct.unpack(">I", b"\0" + flv[pos + 1:pos + 4])[0]
        ts = struct.unpack(">I", b"\0" + flv[pos + 4:pos + 7])[0] | (flv[pos + 7] << 24)
        yield typ, ts, flv[pos + 11:pos + 11 + size]
        pos += 11 + size + 4


for chunk in (128, 4096):
    stream = CONNECT if chunk == 128 else b""
    if chunk != 128:
        stream += rtmp_message(2, 1, 0, 0, struct.pack(">I", chunk), 128)
    for n, (typ, ts, body) in enumerate(flv_tags(read("small.flv"))):
        if n > 12:
            break
        stream += rtmp_message(6 if typ == 9 else 4, typ, ts, 1, body, chunk)
    put("rtmp_guard", "flv-tags-chunk-%d" % chunk, stream + split(1400))
put("rtmp_guard", "connect", CONNECT + split(1))

print("seeds written to", os.path.join(here, "corpus"))

# Subtitles: the first byte picks SRT (even) or WebVTT (odd).
SRT = (b"1\r\n00:00:01,000 --> 00:00:02,500\r\nHello & <i>welcome</i>\r\n\r\n"
       b"2\n00:00:05,000 --> 00:00:06,000 X1:10\n{\\an8}<b>Two</b>\nlines &amp; more\n")
VTT = (b"\xef\xbb\xbfWEBVTT - seeds\nX-TIMESTAMP-MAP=LOCAL:00:00:00.000,MPEGTS:0\n\n"
       b"NOTE a note\n\nSTYLE\n::cue { color: red }\n\nintro\n00:01.000 --> 00:02.500 align:start\n"
       b"<v Bob>Hi</v> <c.yellow>there</c> <00:01.500>1 < 2\n\n00:00:03.000 --> 00:00:04.000\nBye\n")
put("text", "srt", b"\x00" + SRT + split(4096))
put("text", "srt-pieces", b"\x00" + SRT + split(7))
put("text", "vtt", b"\x01" + VTT + split(4096))
put("text", "vtt-pieces", b"\x01" + VTT + split(5))
