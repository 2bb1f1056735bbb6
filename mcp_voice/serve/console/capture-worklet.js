// Microphone capture: device-rate float samples -> PCM16 at 24 kHz in 20 ms frames (480 samples).
// Downsampling low-passes first (a one-pole filter near 10 kHz) so that what is above the new
// Nyquist frequency does not fold back as noise; upsampling interpolates linearly.
const OUT_RATE = 24000;
const FRAME = 480;

class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / OUT_RATE; // input samples per output sample
    this.pos = 0; // position of the next output sample, in input samples from `prev`
    this.prev = 0;
    const rc = 1 / (2 * Math.PI * 10000);
    this.alpha = this.step > 1 ? (1 / sampleRate) / (rc + 1 / sampleRate) : 1;
    this.lp = 0;
    this.frame = new Int16Array(FRAME);
    this.n = 0;
    this.sumSquares = 0;
  }

  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    for (let i = 0; i < input.length; i++) {
      this.lp += this.alpha * (input[i] - this.lp);
      const cur = this.lp;
      // emit every output sample that falls between prev (at 0) and cur (at 1)
      while (this.pos <= 1) {
        const s = this.prev + (cur - this.prev) * this.pos;
        const clipped = Math.max(-1, Math.min(1, s));
        this.sumSquares += clipped * clipped;
        this.frame[this.n++] = clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff;
        this.pos += this.step;
        if (this.n === FRAME) {
          // the frame's last sample was captured at this context time
          const t = currentTime + (i + 1) / sampleRate;
          const level = Math.sqrt(this.sumSquares / FRAME);
          this.port.postMessage({ pcm: this.frame.buffer, t, level }, [this.frame.buffer]);
          this.frame = new Int16Array(FRAME);
          this.n = 0;
          this.sumSquares = 0;
        }
      }
      this.pos -= 1;
      this.prev = cur;
    }
    return true;
  }
}

registerProcessor("mcp-voice-capture", CaptureProcessor);
