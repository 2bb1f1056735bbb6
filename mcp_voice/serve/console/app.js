// The console: wires the connection, the audio and the views together, event by event.
import { Microphone, Player, RATE, fromBase64, microphones, toBase64 } from "./audio.js";
import { Connection } from "./connection.js";
import { Calls } from "./calls.js";
import { EventLog, Transcript, el, showFigures } from "./views.js";

const $ = (id) => document.getElementById(id);
const stats = {
  loadToConnectedMs: null,
  reconnects: 0,
  responses: 0,
  inputTokens: 0,
  outputTokens: 0,
  toolCalls: 0,
  toolMs: [],
  framesSent: 0,
  micToSendMs: [],
  frameTimes: new Map(), // event_id -> capture time (unix ms), the last few seconds
  truncations: [],
  playedSamples: 0,
  errors: [],
};
let apiKey = null; // memory only: never stored, never sent anywhere but the mint request
let info = null;
let conn = null;
let mic = null;
let pttHeld = false;
let frameSeq = 0;
// A response.create with parameters is always this page's own: a plain one sent while the host
// reads a tool result back would join that read-back instead of answering the new message.
const OWN_RESPONSE = { type: "response.create", response: { metadata: { client: "mcp-voice-console" } } };
const truncated = new Set();
let responding = false; // a response is active (response.created .. response.done)
let asked = 0; // responses this page (or the user's turn) asked for and that have not started

const transcript = new Transcript($("transcript"), $("announcer"));
const log = new EventLog($("log"), $("log-filter"), $("log-audio"));
const calls = new Calls({ tools: $("tools"), questions: $("questions"), stats, send: (event) => send(event) });
const player = new Player((itemId, samples) => {
  stats.playedSamples = player.totalPlayed;
});
window.mcpConsole = { stats, player, cards: calls.cards, get conn() { return conn; } };

function status(state, text) {
  const node = $("status");
  node.dataset.state = state;
  node.textContent = text;
  document.body.dataset.state = state;
  $("connect").disabled = state === "connected" || state === "connecting";
  $("disconnect").disabled = !(state === "connected" || state === "reconnecting");
}

function turnDetection() {
  return $("turn").value;
}

function updatePtt() {
  $("ptt").disabled = !(mic && turnDetection() === "none");
}

// -- connecting -------------------------------------------------------------------------------

async function start() {
  status("connecting", "Asking the server…");
  try {
    const response = await fetch("/console/info.json", { cache: "no-store" });
    info = await response.json();
  } catch (err) {
    status("error", `Cannot reach the server: ${err}`);
    return;
  }
  $("transport").querySelector('[value="webrtc"]').disabled = !info.webrtc;
  document.body.dataset.upstream = info.upstream;
  if (info.auth && !apiKey) {
    $("key-form").hidden = false;
    status("idle", "An API key is needed");
    $("api-key").focus();
    return;
  }
  connect();
}

function connect() {
  conn?.close();
  conn = new Connection({
    info,
    key: () => apiKey,
    onEvent: (event, dir) => {
      log.add(event, dir);
      if (dir === "in") handle(event);
    },
    onStatus: (state, text) => {
      status(state, text);
      stats.reconnects = conn ? conn.reconnects : 0;
    },
    onOpen: () => {
      if (stats.loadToConnectedMs === null) stats.loadToConnectedMs = Math.round(performance.now());
      figures();
      player.init().catch((err) => stats.errors.push(String(err)));
    },
  });
  if ($("transport").value === "webrtc") {
    conn.connectWebRTC(mic?.track || null, (stream) => {
      let audio = document.querySelector("audio#remote");
      if (!audio) {
        audio = el("audio", { id: "remote", autoplay: true });
        document.body.append(audio);
      }
      audio.srcObject = stream;
    });
  } else conn.connect();
}

$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  apiKey = $("api-key").value.trim() || null;
  $("api-key").value = "";
  if (!apiKey) return;
  $("key-form").hidden = true;
  connect();
});
$("connect").addEventListener("click", () => (info ? (info.auth && !apiKey ? start() : connect()) : start()));
$("disconnect").addEventListener("click", () => conn?.close());

// -- what the server says ---------------------------------------------------------------------

function send(event) {
  return conn ? conn.send(event) : false;
}

function handle(event) {
  const type = event.type || "";
  switch (type) {
    case "session.created":
      showSession(event.session);
      send({
        type: "session.update",
        session: { type: "realtime", audio: { input: { transcription: { model: "gpt-4o-mini-transcribe" } } } },
      });
      return;
    case "session.updated":
      return showSession(event.session);
    case "error":
      stats.errors.push(event.error?.message || "error");
      $("status").textContent = `Error: ${event.error?.message || "unknown"}`;
      return;
    case "input_audio_buffer.speech_started":
      return bargeIn();
    case "input_audio_buffer.committed":
      asked += 1; // server VAD answers the turn unless told not to
      return;
    case "conversation.item.input_audio_transcription.delta":
      return transcript.append(event.item_id, "You", event.delta || "");
    case "conversation.item.input_audio_transcription.completed":
      return transcript.done(event.item_id, "You", event.transcript || "");
    case "response.created":
      return responseCreated(event.response || {});
    case "response.output_audio.delta":
      if (!truncated.has(event.item_id) && event.delta) player.push(event.item_id, fromBase64(event.delta));
      return;
    case "response.output_audio.done":
      return player.end(event.item_id);
    case "response.output_audio_transcript.delta":
    case "response.output_text.delta":
      calls.spoken(event.response_id, event.delta || "");
      return transcript.append(event.item_id, "Assistant", event.delta || "");
    case "response.output_audio_transcript.done":
      return transcript.done(event.item_id, "Assistant", event.transcript);
    case "response.output_text.done":
      return transcript.done(event.item_id, "Assistant", event.text);
    case "response.output_item.added":
    case "response.output_item.done":
    case "conversation.item.added":
    case "conversation.item.done":
    case "conversation.item.retrieved":
      return calls.item(event.item || {});
    case "response.mcp_call_arguments.delta": {
      const card = calls.cards.get(event.item_id);
      if (card) card.args.textContent += event.delta || "";
      return;
    }
    case "response.mcp_call_arguments.done":
      return calls.cards.get(event.item_id)?.arguments(event.arguments);
    case "response.mcp_call.in_progress":
      return calls.cards.get(event.item_id)?.set("running");
    case "response.mcp_call.failed":
      return calls.cards.get(event.item_id)?.set("failed");
    case "response.done":
      responseDone(event.response || {});
      return figures();
    default:
      if (type.startsWith("mcp_voice.")) return calls.custom(event);
  }
}

function showSession(session) {
  if (!session) return;
  if (typeof session.instructions === "string") $("instructions").value = session.instructions;
  const voice = session.audio?.output?.voice;
  if (voice) $("voice").value = voice;
  const td = session.audio?.input?.turn_detection;
  if (td !== undefined) $("turn").value = td ? td.type : "none";
  updatePtt();
}

function responseCreated(response) {
  stats.responses += 1;
  responding = true;
  const ours = asked > 0;
  if (ours) asked -= 1;
  calls.responseCreated(response, ours);
}

function responseDone(response) {
  responding = false;
  const usage = response.usage || {};
  stats.inputTokens += usage.input_tokens || 0;
  stats.outputTokens += usage.output_tokens || 0;
  calls.responseDone(response);
}

// -- talking ----------------------------------------------------------------------------------

async function bargeIn() {
  const itemId = player.sounding;
  if (!itemId) return;
  truncated.add(itemId);
  await player.clear();
  const samples = player.played.get(itemId) || 0;
  const audioEndMs = Math.floor((samples * 1000) / RATE);
  send({ type: "conversation.item.truncate", item_id: itemId, content_index: 0, audio_end_ms: audioEndMs });
  stats.truncations.push({ itemId, audioEndMs, samples });
}

function onFrame(pcm, captured) {
  if (!conn || !conn.open) return;
  if (turnDetection() === "none" && !pttHeld) return;
  const eventId = `mic_${++frameSeq}`;
  if (send({ type: "input_audio_buffer.append", event_id: eventId, audio: toBase64(pcm) })) {
    const now = performance.timeOrigin + performance.now();
    stats.framesSent += 1;
    stats.micToSendMs.push(now - captured);
    if (stats.micToSendMs.length > 3000) stats.micToSendMs.shift();
    stats.frameTimes.set(eventId, captured);
    if (stats.frameTimes.size > 3000) stats.frameTimes.delete(stats.frameTimes.keys().next().value);
  }
}

async function listDevices() {
  const select = $("mic-device");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "", text: "Default" }));
  for (const d of await microphones()) {
    if (d.deviceId && d.deviceId !== "default") select.append(el("option", { value: d.deviceId, text: d.label || "Microphone" }));
  }
  select.value = chosen;
}

async function startMic() {
  // the meter shows the loudest frame of each 100 ms: 10 repaints a second, not 50
  let loudest = 0;
  let last = 0;
  mic = new Microphone(onFrame, (level) => {
    loudest = Math.max(loudest, level);
    const now = performance.now();
    if (now - last < 100) return;
    last = now;
    $("level").value = Math.min(1, loudest * 4);
    loudest = 0;
  });
  try {
    const rate = await mic.start($("mic-device").value);
    stats.micRate = rate;
  } catch (err) {
    mic = null;
    status("error", `Microphone: ${err.message || err}`);
    return;
  }
  await player.init();
  $("mic").textContent = "Stop microphone";
  $("mic").setAttribute("aria-pressed", "true");
  $("mute").disabled = false;
  updatePtt();
  listDevices();
}

async function stopMic() {
  await mic?.stop();
  mic = null;
  $("mic").textContent = "Start microphone";
  $("mic").setAttribute("aria-pressed", "false");
  $("mute").disabled = true;
  $("level").value = 0;
  updatePtt();
}

$("mic").addEventListener("click", () => (mic ? stopMic() : startMic()));
$("mic-device").addEventListener("change", async () => {
  if (mic) {
    await stopMic();
    await startMic();
  }
});
$("mute").addEventListener("click", () => {
  if (!mic) return;
  mic.muted = !mic.muted;
  $("mute").setAttribute("aria-pressed", String(mic.muted));
  $("mute").textContent = mic.muted ? "Unmute" : "Mute";
});

function pttDown() {
  if (pttHeld || $("ptt").disabled) return;
  pttHeld = true;
  $("ptt").setAttribute("aria-pressed", "true");
  bargeIn();
  if (responding) send({ type: "response.cancel" }); // no server VAD to interrupt it for us
  send({ type: "input_audio_buffer.clear" });
}

function pttUp() {
  if (!pttHeld) return;
  pttHeld = false;
  $("ptt").setAttribute("aria-pressed", "false");
  send({ type: "input_audio_buffer.commit" });
  asked += 1;
  send(structuredClone(OWN_RESPONSE));
}

const ptt = $("ptt");
ptt.addEventListener("pointerdown", pttDown);
ptt.addEventListener("pointerup", pttUp);
ptt.addEventListener("pointerleave", pttUp);
ptt.addEventListener("keydown", (e) => {
  if (e.key === " " || e.key === "Enter") {
    e.preventDefault();
    pttDown();
  }
});
ptt.addEventListener("keyup", (e) => {
  if (e.key === " " || e.key === "Enter") pttUp();
});

$("text-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("text").value.trim();
  if (!text || !conn?.open) return;
  const id = `item_console_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  player.init();
  bargeIn();
  send({ type: "conversation.item.create", item: { id, type: "message", role: "user", content: [{ type: "input_text", text }] } });
  asked += 1;
  send(structuredClone(OWN_RESPONSE));
  transcript.done(id, "You", text);
  $("text").value = "";
});

$("settings-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const kind = turnDetection();
  send({
    type: "session.update",
    session: {
      type: "realtime",
      instructions: $("instructions").value,
      audio: { input: { turn_detection: kind === "none" ? null : { type: kind } }, output: { voice: $("voice").value } },
    },
  });
  updatePtt();
});
$("turn").addEventListener("change", updatePtt);
$("log-clear").addEventListener("click", () => log.clear());

// -- figures ----------------------------------------------------------------------------------

const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
function figures() {
  const toolAvg = mean(stats.toolMs);
  const mic = mean(stats.micToSendMs.slice(-250));
  showFigures($("figures"), {
    "Load to connected": stats.loadToConnectedMs === null ? "—" : `${stats.loadToConnectedMs} ms`,
    Reconnects: stats.reconnects,
    Responses: stats.responses,
    "Tokens in / out": `${stats.inputTokens} / ${stats.outputTokens}`,
    "Tool calls": stats.toolCalls,
    "Tool latency (last / mean)": stats.toolMs.length ? `${stats.toolMs.at(-1)} / ${Math.round(toolAvg)} ms` : "—",
    "Audio played": `${(stats.playedSamples / RATE).toFixed(1)} s`,
    "Mic frames sent": stats.framesSent,
    "Mic frame to send": mic === null ? "—" : `${mic.toFixed(1)} ms`,
    "Client secrets minted": conn ? conn.mints : 0,
    "Events not logged (audio)": log.skipped,
  });
}
setInterval(figures, 1000);
figures();
start();
