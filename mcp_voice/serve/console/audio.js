// The microphone (getUserMedia -> capture worklet -> 20 ms PCM16 frames) and the player
// (playback worklet at 24 kHz). Both report what they did, so the page can show and test it.

export const RATE = 24000;

export function toBase64(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

export function fromBase64(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length & ~1);
  for (let i = 0; i < bytes.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes.buffer;
}

export async function microphones() {
  if (!navigator.mediaDevices?.enumerateDevices) return [];
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices.filter((d) => d.kind === "audioinput");
}

export class Microphone {
  constructor(onFrame, onLevel) {
    this.onFrame = onFrame; // (ArrayBuffer pcm16, captureUnixMs) => void
    this.onLevel = onLevel;
    this.muted = false;
    this.ctx = null;
    this.stream = null;
  }

  async start(deviceId) {
    const audio = { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    if (deviceId) audio.deviceId = { exact: deviceId };
    this.stream = await navigator.mediaDevices.getUserMedia({ audio });
    this.ctx = new AudioContext(); // the device's rate; the worklet resamples to 24 kHz
    await this.ctx.audioWorklet.addModule("/console/capture-worklet.js");
    const source = this.ctx.createMediaStreamSource(this.stream);
    this.node = new AudioWorkletNode(this.ctx, "mcp-voice-capture", { numberOfInputs: 1, numberOfOutputs: 0 });
    this.node.port.onmessage = (e) => {
      const { pcm, t, level } = e.data;
      // how long ago (context clock) the frame's last sample was captured, on the page's clock
      const captured = performance.timeOrigin + performance.now() - Math.max(0, this.ctx.currentTime - t) * 1000;
      this.onLevel(this.muted ? 0 : level);
      if (!this.muted) this.onFrame(pcm, captured);
    };
    source.connect(this.node);
    return this.ctx.sampleRate;
  }

  get track() {
    return this.stream?.getAudioTracks()[0] || null;
  }

  async stop() {
    this.stream?.getTracks().forEach((t) => t.stop());
    await this.ctx?.close();
    this.ctx = null;
    this.stream = null;
  }
}

export class Player {
  constructor(onPlayed) {
    this.onPlayed = onPlayed; // (itemId, samples) => void
    this.played = new Map();
    this.received = new Map();
    this.ctx = null;
    this.pendingClear = null;
  }

  async init() {
    if (this.ctx) return;
    this.ctx = new AudioContext({ sampleRate: RATE, latencyHint: "interactive" });
    await this.ctx.audioWorklet.addModule("/console/playback-worklet.js");
    this.node = new AudioWorkletNode(this.ctx, "mcp-voice-playback", { numberOfInputs: 0, outputChannelCount: [1] });
    this.node.port.onmessage = (e) => this.message(e.data);
    this.node.connect(this.ctx.destination);
  }

  message(msg) {
    if (msg.type === "cleared") {
      for (const [itemId, samples] of Object.entries(msg.played)) this.played.set(itemId, samples);
    } else if (msg.itemId) {
      this.played.set(msg.itemId, msg.samples);
      this.onPlayed(msg.itemId, msg.samples);
    }
    if (msg.type === "cleared" && this.pendingClear) {
      this.pendingClear(msg);
      this.pendingClear = null;
    }
  }

  push(itemId, pcm) {
    if (!this.ctx) return;
    if (this.ctx.state === "suspended") this.ctx.resume();
    this.received.set(itemId, (this.received.get(itemId) || 0) + pcm.byteLength / 2);
    this.node.port.postMessage({ type: "audio", itemId, pcm }, [pcm]);
  }

  end(itemId) {
    this.node?.port.postMessage({ type: "end", itemId });
  }

  /** The item still sounding (received more than played), or null. */
  get sounding() {
    for (const [itemId, samples] of this.received) {
      if ((this.played.get(itemId) || 0) < samples) return itemId;
    }
    return null;
  }

  /** Stop at once; resolves once the worklet has said how much of each item it played. */
  clear() {
    if (!this.node) return Promise.resolve({ itemId: null, samples: 0 });
    return new Promise((resolve) => {
      this.pendingClear = (msg) => {
        for (const itemId of this.received.keys()) this.received.set(itemId, this.played.get(itemId) || 0);
        resolve(msg);
      };
      this.node.port.postMessage({ type: "clear" });
    });
  }

  get totalPlayed() {
    let n = 0;
    for (const v of this.played.values()) n += v;
    return n;
  }
}
