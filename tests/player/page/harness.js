// What both player pages record for play.mjs (index.html: dash.js, rx.html: rx-player), and
// the one thing play.mjs reads: window.harness.snapshot(). A page calls createHarness with
// its <video>, its subtitle element and an adapter for its player:
//   levels(type)      quality levels of 'video' or 'audio': [{id, bandwidth, width, height, codecs}]
//   dynamic()         whether the player sees a live presentation (null: not known yet)
//   switchAudio(lang) switch to the audio track of that language; false if there is none
//   versions()        {dashjsVersion, rxPlayerVersion}
// and gets back the shared state and pushError, for its own player's events.
window.createHarness = ({ video, subtitles, params, adapter }) => {
  const showText = params.get('text') === '1';
  const switchAudio = params.get('switchAudio');
  const state = {
    errors: [],          // {source, code, message}
    ended: false,
    playing: null,       // {ct, t}: currentTime and page time at the first 'playing'
    streamInitialized: false,
    audioTracks: [],     // {id, lang} as the player lists them
    textTracks: [],      // {id, lang, kind, roles}
    captions: [],        // [currentTime, text]: each change of the rendered subtitle text
    switched: null,      // {ct, lang}: when switchAudio was applied
  };
  const pushError = (source, code, message) => {
    if (state.errors.length < 20) state.errors.push({ source, code: code ?? null, message: String(message ?? '') });
  };
  const safe = (f, fallback) => { try { return f(); } catch (_) { return fallback; } };

  video.addEventListener('error', () => {
    const err = video.error;
    pushError('media', err ? err.code : null, err ? err.message : 'media element error');
  });
  video.addEventListener('ended', () => { state.ended = true; });
  video.addEventListener('playing', () => {
    if (!state.playing) state.playing = { ct: video.currentTime, t: performance.now() / 1000 };
  });
  if (switchAudio) {
    video.addEventListener('timeupdate', () => {
      if (state.switched || !state.playing || video.currentTime - state.playing.ct < 3) return;
      state.switched = { ct: video.currentTime, lang: switchAudio };
      if (!safe(() => adapter.switchAudio(switchAudio), false)) {
        pushError('page', 'NO_TRACK', `no audio track with language ${switchAudio}`);
      }
    });
  }
  if (showText) {
    let last = '';
    setInterval(() => {
      const text = subtitles.innerText.trim();
      if (text !== last && state.captions.length < 200) {
        state.captions.push([video.currentTime, text]);
        last = text;
      }
    }, 50);
  }

  window.harness = {
    snapshot() {
      const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
      return {
        t: performance.now() / 1000,
        currentTime: video.currentTime,
        duration: Number.isFinite(video.duration) ? video.duration : null,
        paused: video.paused,
        readyState: video.readyState,
        videoWidth: video.videoWidth,
        videoHeight: video.videoHeight,
        totalVideoFrames: q ? q.totalVideoFrames : null,
        audioDecodedBytes: video.webkitAudioDecodedByteCount ?? null,
        droppedVideoFrames: q ? q.droppedVideoFrames : null,
        dynamic: safe(() => adapter.dynamic(), null),
        videoLevels: safe(() => adapter.levels('video'), []),
        audioLevels: safe(() => adapter.levels('audio'), []),
        ...safe(() => adapter.versions(), {}),
        ...state,
      };
    },
  };
  return { state, pushError, showText };
};
