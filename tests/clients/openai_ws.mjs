// The openai npm package's OpenAIRealtimeWS (always wss:) against mcp-voice serve over TLS.
//
// The test makes the certificate and points node at it with NODE_EXTRA_CA_CERTS. One session: a
// host tool call, a fence ("say: fence"), then a client-side function call answered by this script.
// Prints one JSON line of counts. Usage: node openai_ws.mjs https://127.0.0.1:PORT/v1 HOST_TEXT
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';

const [baseURL, hostText, slowText] = process.argv.slice(2);
const client = new OpenAI({ apiKey: 'client-key', baseURL });
const rt = new OpenAIRealtimeWS({ model: 'gpt-realtime' }, client);

const events = [];
const errors = [];
const waiters = [];
rt.on('event', (event) => {
  events.push(event);
  for (const waiter of [...waiters]) waiter();
});
rt.on('error', (error) => {
  errors.push(String(error?.message ?? error));
  for (const waiter of [...waiters]) waiter();
});

let closed = null;
rt.socket.on('close', (code) => {
  closed = `the connection closed (${code})`;
  for (const waiter of [...waiters]) waiter();
});

function until(predicate, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}: ${errors.join('; ')}`)), 60000);
    const check = () => {
      if (closed !== null && !predicate()) {
        clearTimeout(timer);
        reject(new Error(`${closed} before ${what}: ${errors.join('; ')}`));
      } else if (predicate()) {
        clearTimeout(timer);
        waiters.splice(waiters.indexOf(check), 1);
        resolve();
      }
    };
    waiters.push(check);
    check();
  });
}
const texts = () => events.filter((e) => e.type === 'response.output_text.done').map((e) => e.text);
const count = (type, from, to = events.length) => events.slice(from, to).filter((e) => e.type === type).length;
const say = (text) => {
  rt.send({
    type: 'conversation.item.create',
    item: { type: 'message', role: 'user', content: [{ type: 'input_text', text }] },
  });
  rt.send({ type: 'response.create' });
};

await until(() => events.some((e) => e.type === 'session.created'), 'session.created');
rt.send({
  type: 'session.update',
  session: {
    type: 'realtime',
    output_modalities: ['text'],
    tools: [{ type: 'function', name: 'client_echo', description: 'Echo a word.', parameters: { type: 'object', properties: { word: { type: 'string' } } } }],
  },
});
await until(() => events.some((e) => e.type === 'session.updated'), 'session.updated');

// Every response a host-call turn causes, counted until the session has been quiet for 3 s.
let lastEvent = Date.now();
rt.on('event', () => {
  lastEvent = Date.now();
});
const quiet = () =>
  new Promise((resolve) => {
    const tick = () => (Date.now() - lastEvent >= 3000 ? resolve() : setTimeout(tick, 100));
    tick();
  });
async function quietTurn(text, result) {
  const from = events.length;
  const said = texts().length;
  say(text);
  await until(() => texts().slice(said).some((t) => t.includes(result)), `the spoken result of ${text}`);
  await quiet();
  return {
    responses_created: count('response.created', from),
    result_spoken: texts().slice(said).filter((t) => t.includes(result)).length,
  };
}

const start = events.length;
say(hostText);
await until(() => texts().some((t) => t.startsWith('Tool result')), 'the spoken result');
say('say: fence');
await until(() => texts().includes('fence'), 'the fence');
const fence = events.findIndex((e, i) => i >= start && e.type === 'response.output_text.done' && e.text === 'fence');
const fenceCreated = events.slice(0, fence).map((e) => e.type).lastIndexOf('response.created');
const mcpDone = events.slice(start).filter((e) => e.type === 'conversation.item.done' && e.item?.type === 'mcp_call');

// A client-side function call: this script answers it the way an application does.
const before = events.length;
say('client_echo word=pong');
const callDone = (e) => e.type === 'response.done' && e.response.output.some((i) => i.type === 'function_call');
await until(() => events.slice(before).some(callDone), 'the function call');
const call = events.slice(before).find(callDone).response.output.find((i) => i.type === 'function_call');
rt.send({ type: 'conversation.item.create', item: { type: 'function_call_output', call_id: call.call_id, output: 'echoed pong' } });
rt.send({ type: 'response.create' });
await until(() => texts().some((t) => t.includes('echoed pong')), 'the function result');

const functionResponses = count('response.created', before);

// Last, so the counts above are of a fresh session's first call.
const quietCounts = slowText
  ? { sync: await quietTurn(hostText, 'Tool result'), slow: await quietTurn(slowText, 'report on') }
  : null;

console.log(
  JSON.stringify({
    url: rt.url.toString(),
    session_updated: count('session.updated', 0),
    host_call: {
      responses_created: count('response.created', start, fenceCreated),
      mcp_item_done: mcpDone.length,
      mcp_output: mcpDone.map((e) => e.item.output),
    },
    function_call: { responses_created: functionResponses },
    quiet: quietCounts,
    errors,
  }),
);
rt.close();
process.exit(0);
