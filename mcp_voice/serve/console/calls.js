// Host tool calls as cards, approval requests and tools' questions: what the page shows of MCP.
import { ToolCard, questionBox } from "./views.js";

export class Calls {
  constructor({ tools, questions, stats, send }) {
    this.tools = tools; // the list the cards go in
    this.box = questions; // where questions appear
    this.stats = stats;
    this.send = send;
    this.cards = new Map(); // item id -> ToolCard
    this.questions = new Map(); // request id -> its box
    this.background = []; // long-running cards waiting for their spoken result
    this.readback = null; // {id, card, text} of a response that speaks a background result
  }

  /** A response started; `ours` when this page (or the user's turn) asked for it. */
  responseCreated(response, ours) {
    if (ours || !this.background.length) return;
    // a response nobody here asked for: the host speaking a long-running result (or its start)
    const card = this.background[0];
    if (card.placeholderSpoken) {
      this.background.shift();
      this.readback = { id: response.id, card, text: "" };
    } else card.placeholderSpoken = true;
  }

  spoken(responseId, delta) {
    if (this.readback && this.readback.id === responseId) this.readback.text += delta;
  }

  responseDone(response) {
    for (const out of response.output || []) if (out.type === "mcp_call") this.item(out);
    const readback = this.readback;
    if (readback && readback.id === response.id) {
      readback.card.output(readback.text, "Result (spoken)");
      readback.card.set("completed");
      this.finish(readback.card);
      this.readback = null;
    }
  }

  finish(card) {
    if (card.counted || card.ms === undefined) return;
    card.counted = true;
    this.stats.toolMs.push(card.ms);
  }

  item(it) {
    if (it.type === "mcp_call") return this.mcpCall(it);
    if (it.type === "mcp_approval_request") return this.approvalRequest(it);
    if (it.type === "mcp_approval_response") {
      const box = this.questions.get(it.approval_request_id);
      if (box) box.dataset.confirmed = it.approve ? "approved" : "denied";
    }
  }

  mcpCall(it) {
    let card = this.cards.get(it.id);
    if (!card) {
      card = new ToolCard(this.tools, it.id, it.name || "?", it.server_label);
      this.cards.set(it.id, card);
      this.stats.toolCalls += 1;
    }
    if (it.arguments) card.arguments(it.arguments);
    if (it.approval_request_id && card.status === "pending") card.set("approval");
    if (it.error) {
      const text = typeof it.error === "string" ? it.error : JSON.stringify(it.error);
      card.output(it.error, "Error");
      card.set(/cancel/i.test(text) ? "cancelled" : /declin|denied/i.test(text) ? "denied" : "failed");
      this.finish(card);
    } else if (it.output !== null && it.output !== undefined && card.status !== "completed") {
      let value = it.output;
      try {
        value = JSON.parse(it.output);
      } catch {
        /* plain text */
      }
      if (value && typeof value === "object" && value.status === "running") {
        if (card.status !== "background") {
          card.output(it.output, "Started");
          card.set("background", value.job_id ? `job ${value.job_id}` : "");
          this.background.push(card);
        }
      } else if (value && typeof value === "object" && (value.status === "declined" || value.status === "cancelled")) {
        card.output(it.output);
        card.set(value.status === "declined" ? "denied" : "cancelled");
        this.finish(card);
      } else {
        card.output(it.output);
        card.set("completed");
        this.finish(card);
      }
    }
  }

  approvalRequest(it) {
    if (this.questions.has(it.id)) return;
    const box = questionBox(this.box, {
      title: `Allow ${it.name}${it.server_label ? ` (${it.server_label})` : ""}?`,
      text: `Arguments: ${it.arguments || "{}"}`,
      actions: [
        { label: "Approve", value: "approve", submit: true },
        { label: "Deny", value: "deny" },
      ],
      onAnswer: (action) =>
        this.send({
          type: "conversation.item.create",
          item: { type: "mcp_approval_response", approval_request_id: it.id, approve: action === "approve" },
        }),
    });
    box.dataset.request = it.id;
    this.questions.set(it.id, box);
  }

  /** An mcp-voice event this page has no special case for: questions and call updates, by shape. */
  custom(event) {
    const carried = [event, ...Object.values(event).filter((v) => v && typeof v === "object" && !Array.isArray(v))];
    const find = (...keys) => {
      for (const obj of carried) for (const k of keys) if (obj[k] !== undefined) return obj[k];
      return undefined;
    };
    const schema = find("requested_schema", "requestedSchema", "schema");
    const url = find("url");
    const itemId = find("item_id");
    const card = itemId ? this.cards.get(itemId) : undefined;
    if (schema || url) {
      const id = find("elicitation_id", "id", "request_id") || event.event_id;
      if (this.questions.has(id)) return;
      const replyType = find("reply_type", "response_type") || event.type.replace(/\.[a-z_]+$/, ".response");
      const box = questionBox(this.box, {
        title: find("title", "tool", "name") ? `Question from ${find("title", "tool", "name")}` : "A tool asks",
        text: find("message", "text"),
        schema,
        url,
        actions: url
          ? [{ label: "Done", value: "accept", submit: true }, { label: "Decline", value: "decline" }]
          : [{ label: "Submit", value: "accept", submit: true }, { label: "Decline", value: "decline" }, { label: "Cancel", value: "cancel" }],
        onAnswer: (action, content) => {
          const reply = { type: replyType, elicitation_id: id, action };
          if (action === "accept" && !url) reply.content = content;
          this.send(reply);
        },
      });
      this.questions.set(id, box);
      return;
    }
    if (card) {
      const state = find("status", "state");
      const progress = find("progress");
      const total = find("total");
      if (progress !== undefined) card.set(card.status === "pending" ? "running" : card.status, total ? `${progress}/${total}` : `${progress}`);
      if (typeof state === "string") card.set(state === "working" ? "running" : state, card.progress.textContent);
      const result = find("output", "result");
      if (result !== undefined) {
        card.output(result);
        this.finish(card);
      }
    }
  }
}
