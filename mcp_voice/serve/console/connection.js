// The session's connection: the relay WebSocket on this page's own origin (or WebRTC through
// serve's /v1/realtime/calls). With keys configured, the key stays in memory and only mints a
// short-lived client secret; the secret, never the key, opens the session. A secret close to
// its expiry (or refused) is replaced before the next connect.

const SECRET_TTL_S = 600;
const RENEW_BEFORE_MS = 30_000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];

export class Connection {
  constructor({ info, key, onEvent, onStatus, onOpen }) {
    this.info = info;
    this.key = key; // () => the API key, or null when none is needed
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onOpen = onOpen;
    this.secret = null; // {value, expires_at (ms)}
    this.ws = null;
    this.wanted = false;
    this.attempt = 0;
    this.reconnects = 0;
    this.mints = 0;
    this.sentBytes = 0;
  }

  get open() {
    return (this.ws && this.ws.readyState === WebSocket.OPEN) || (this.dc && this.dc.readyState === "open");
  }

  async credential() {
    if (!this.info.auth) return null;
    if (!this.secret || this.secret.expires_at - Date.now() < RENEW_BEFORE_MS) await this.mint();
    return this.secret.value;
  }

  async mint() {
    const key = this.key();
    if (!key) throw new Error("an API key is needed");
    const response = await fetch("/v1/realtime/client_secrets", {
      method: "POST",
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
      body: JSON.stringify({
        expires_after: { anchor: "created_at", seconds: SECRET_TTL_S },
        session: { type: "realtime" },
      }),
      credentials: "omit",
      cache: "no-store",
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body?.error?.message || `minting a client secret failed (${response.status})`);
    this.mints += 1;
    this.secret = { value: body.value, expires_at: body.expires_at * 1000 };
  }

  async connect() {
    this.wanted = true;
    this.onStatus("connecting", "Connecting…");
    let secret;
    try {
      secret = await this.credential();
    } catch (err) {
      this.onStatus("error", String(err.message || err));
      this.wanted = false;
      return;
    }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/v1/realtime?model=${encodeURIComponent(this.info.model)}`;
    // browsers cannot set headers on a WebSocket: the secret rides in a subprotocol, not the URL
    const protocols = secret ? ["realtime", `openai-insecure-api-key.${secret}`] : ["realtime"];
    const ws = new WebSocket(url, protocols);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.attempt = 0;
      this.onStatus("connected", "Connected");
      this.onOpen();
    };
    ws.onmessage = (e) => {
      let event;
      try {
        event = JSON.parse(e.data);
      } catch {
        return;
      }
      this.onEvent(event, "in");
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!opened && secret) this.secret = null; // refused: expired or unknown, mint another
      const why = e.reason ? `${e.code} ${e.reason}` : `${e.code}`;
      if (!this.wanted) {
        this.onStatus("idle", `Disconnected (${why})`);
        return;
      }
      const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
      this.attempt += 1;
      this.reconnects += 1;
      this.onStatus("reconnecting", `Connection closed (${why}); reconnecting in ${delay / 1000} s`);
      this.timer = setTimeout(() => this.wanted && this.connect(), delay);
    };
  }

  send(event) {
    const text = JSON.stringify(event);
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
    else if (this.dc && this.dc.readyState === "open") this.dc.send(text);
    else return false;
    this.sentBytes += text.length;
    this.onEvent(event, "out");
    return true;
  }

  close() {
    this.wanted = false;
    clearTimeout(this.timer);
    this.ws?.close(1000, "closed by the user");
    this.pc?.close();
    this.pc = null;
    this.dc = null;
  }

  /** WebRTC through serve: the offer goes to POST /v1/realtime/calls with the secret (never the key). */
  async connectWebRTC(track, onRemoteTrack) {
    this.wanted = true;
    this.onStatus("connecting", "Connecting (WebRTC)…");
    try {
      const secret = await this.credential();
      const pc = new RTCPeerConnection();
      this.pc = pc;
      pc.ontrack = (e) => onRemoteTrack(e.streams[0]);
      if (track) pc.addTrack(track);
      else pc.addTransceiver("audio", { direction: "recvonly" });
      const dc = pc.createDataChannel("oai-events");
      this.dc = dc;
      dc.onopen = () => {
        this.onStatus("connected", "Connected (WebRTC)");
        this.onOpen();
      };
      dc.onmessage = (e) => {
        try {
          this.onEvent(JSON.parse(e.data), "in");
        } catch {
          /* not JSON: ignore */
        }
      };
      await pc.setLocalDescription(await pc.createOffer());
      const headers = { "Content-Type": "application/sdp" };
      if (secret) headers.Authorization = `Bearer ${secret}`;
      const response = await fetch("/v1/realtime/calls", {
        method: "POST",
        headers,
        body: pc.localDescription.sdp,
        credentials: "omit",
      });
      const answer = await response.text();
      if (!response.ok) throw new Error(`the call was refused (${response.status}): ${answer.slice(0, 200)}`);
      this.callId = (response.headers.get("Location") || "").split("/").pop();
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
    } catch (err) {
      this.onStatus("error", `WebRTC: ${err.message || err}`);
    }
  }
}
