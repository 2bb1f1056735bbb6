// @openai/agents-realtime (WebSocket transport) against mcp-voice serve, driven by pytest.
//
// One session: a user text that makes the model call a host tool, counted until the session has
// been quiet for 3 s (so a late response is counted too), then "say: fence" (the SDK's next turn
// must still get its reply), then a client-side function tool call. Prints one JSON line of
// counts for the test to assert.
// Usage: node agents_realtime.mjs URL HOST_TEXT EXPECTED_RESULT [--no-auto-trigger]
import { RealtimeAgent, RealtimeSession, tool } from '@openai/agents-realtime';
import { z } from 'zod';

// The SDK's own zod schema of server events (not exported; loaded by path). An event it rejects
// is silently treated as unknown by the SDK, so the script checks every event against it.
const { realtimeServerEventSchema } = await import(
  new URL('./node_modules/@openai/agents-realtime/dist/openaiRealtimeEvents.mjs', import.meta.url)
);
const knownTypes = new Set(realtimeServerEventSchema.options.map((option) => option.shape.type.value));

const [url, hostText, expected, ...flags] = process.argv.slice(2);
const autoTrigger = !flags.includes('--no-auto-trigger');

const echo = tool({
  name: 'client_echo',
  description: 'Echo a word back (runs in the client).',
  parameters: z.object({ word: z.string() }),
  execute: async ({ word }) => `echoed ${word}`,
});
const agent = new RealtimeAgent({ name: 'assistant', instructions: 'Use the tools.', tools: [echo] });
const session = new RealtimeSession(agent, {
  transport: 'websocket',
  model: 'gpt-realtime',
  automaticallyTriggerResponseForMcpToolCalls: autoTrigger,
  config: { outputModalities: ['text'] },
});

const events = [];
const errors = [];
const mcpCompleted = [];
const waiters = [];
const invalid = [];
session.on('transport_event', (event) => {
  events.push(event);
  if (knownTypes.has(event.type)) {
    const checked = realtimeServerEventSchema.safeParse(event);
    if (!checked.success) invalid.push({ type: event.type, issues: checked.error.issues.map((i) => i.message) });
  }
  for (const waiter of [...waiters]) waiter();
});
session.on('error', (error) => errors.push(String(error?.error?.message ?? error?.error ?? error)));
session.on('mcp_tool_call_completed', (_context, _agent, call) => mcpCompleted.push(call));

function until(predicate, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 60000);
    const check = () => {
      if (predicate()) {
        clearTimeout(timer);
        waiters.splice(waiters.indexOf(check), 1);
        resolve();
      }
    };
    waiters.push(check);
    check();
  });
}

const QUIET_MS = 3000;
let lastEventAt = Date.now();
session.on('transport_event', () => {
  lastEventAt = Date.now();
});
/** Resolves once no event has arrived for `ms`. */
async function quiet(ms) {
  while (Date.now() - lastEventAt < ms) {
    await new Promise((resolve) => setTimeout(resolve, ms - (Date.now() - lastEventAt) + 10));
  }
}

const texts = () => events.filter((e) => e.type === 'response.output_text.done').map((e) => e.text);
const count = (type, from, to = events.length) => events.slice(from, to).filter((e) => e.type === type).length;

await session.connect({ apiKey: 'client-key', url });
await until(() => events.some((e) => e.type === 'session.updated'), 'session.updated');

// 1. A host tool call, counted until 3 s of quiet; then a fence that must still be answered.
const start = events.length;
const textsBefore = texts().length;
session.sendMessage(hostText);
await until(() => mcpCompleted.length > 0 && texts().some((t) => t.includes(expected)), 'the spoken result');
await quiet(QUIET_MS);
const quietAt = events.length;
const hostCall = {
  responses_created: count('response.created', start, quietAt),
  responses_done: count('response.done', start, quietAt),
  spoken: texts().slice(textsBefore),
  mcp_item_done: events
    .slice(start, quietAt)
    .filter((e) => e.type === 'conversation.item.done' && e.item?.type === 'mcp_call').length,
};
session.sendMessage('say: fence');
await until(() => texts().includes('fence'), 'the fence');
const historyCall = session.history.find((item) => item.type === 'mcp_call');

// 2. A client-side function tool: the SDK runs it and asks for the reply itself.
const before = events.length;
session.sendMessage('client_echo word=pong');
await until(() => texts().some((t) => t.includes('echoed pong')), 'the function result');
const historyFunction = session.history.find((item) => item.type === 'function_call');

console.log(
  JSON.stringify({
    host_call: hostCall,
    mcp_tool_call_completed: mcpCompleted.map((c) => ({ name: c.name, output: c.output ?? null, status: c.status })),
    history_mcp_call: historyCall ? { status: historyCall.status, output: historyCall.output ?? null } : null,
    function_call: {
      responses_created: count('response.created', before),
      history_status: historyFunction?.status ?? null,
      history_output: historyFunction?.output ?? null,
    },
    errors,
    invalid_events: invalid,
    checked_types: [...new Set(events.map((e) => e.type).filter((t) => knownTypes.has(t)))].length,
  }),
);
session.close();
process.exit(0);
