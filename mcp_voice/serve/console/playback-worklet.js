// Playback of PCM16 24 kHz deltas with a small jitter buffer, counting what was really played.
// Messages in: {type:"audio", itemId, pcm: ArrayBuffer}, {type:"end", itemId} (no more audio
// for it: play out what is left), {type:"clear"} (stop now). Out: {type:"played", itemId,
// samples} as playback goes, and {type:"cleared", played: {itemId: samples}} answering "clear".
const JITTER_SAMPLES = 1440; // 60 ms at 24 kHz before playback starts (or restarts after a gap)
const REPORT_EVERY = 2400; // a "played" message every 100 ms of audio

class PlaybackProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.queue = []; // {itemId, data: Float32Array, offset}
    this.queued = 0;
    this.playing = false;
    this.ended = new Set();
    this.played = new Map(); // itemId -> samples played
    this.sinceReport = 0;
    this.current = null;
    this.port.onmessage = (e) => this.onMessage(e.data);
  }

  onMessage(msg) {
    if (msg.type === "audio") {
      const pcm = new Int16Array(msg.pcm);
      const data = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) data[i] = pcm[i] / 0x8000;
      this.queue.push({ itemId: msg.itemId, data, offset: 0 });
      this.queued += data.length;
    } else if (msg.type === "end") {
      this.ended.add(msg.itemId);
    } else if (msg.type === "clear") {
      const itemId = this.current;
      this.queue = [];
      this.queued = 0;
      this.playing = false;
      this.port.postMessage({ type: "cleared", itemId, played: Object.fromEntries(this.played) });
    }
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    if (!this.playing) {
      const head = this.queue[0];
      if (head && (this.queued >= JITTER_SAMPLES || this.ended.has(head.itemId))) this.playing = true;
    }
    let i = 0;
    while (this.playing && i < out.length && this.queue.length) {
      const chunk = this.queue[0];
      const n = Math.min(out.length - i, chunk.data.length - chunk.offset);
      out.set(chunk.data.subarray(chunk.offset, chunk.offset + n), i);
      chunk.offset += n;
      i += n;
      this.queued -= n;
      this.current = chunk.itemId;
      this.played.set(chunk.itemId, (this.played.get(chunk.itemId) || 0) + n);
      this.sinceReport += n;
      if (chunk.offset === chunk.data.length) {
        this.queue.shift();
        if (!this.queue.length || this.queue[0].itemId !== chunk.itemId) this.report(chunk.itemId);
      }
    }
    out.fill(0, i);
    if (this.playing && !this.queue.length) this.playing = false; // a gap: buffer again
    if (this.sinceReport >= REPORT_EVERY && this.current) this.report(this.current);
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    return true;
  }

  report(itemId) {
    this.sinceReport = 0;
    this.port.postMessage({ type: "played", itemId, samples: this.played.get(itemId) || 0 });
  }
}

registerProcessor("mcp-voice-playback", PlaybackProcessor);
