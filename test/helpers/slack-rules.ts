/**
 * Slack's payload rules, written from Slack's Block Kit reference
 * (https://api.slack.com/reference/block-kit) and docs/ARCHITECTURE.md, section 13, for the
 * test fake to refuse what real Slack refuses. Deliberately independent of
 * src/slack/limits.ts: the product's builders are checked against these, not
 * against themselves.
 */

type Json = Record<string, unknown>;

/** Why Slack would refuse the payload (`invalid_blocks: ...`), or null when it takes it. */
export type Verdict = { error: 'invalid_blocks' | 'invalid_arguments' | 'msg_too_long' | 'no_text'; detail: string } | null;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const len = (v: unknown) => (typeof v === 'string' ? v.length : 0);

class Refused extends Error {
  constructor(
    readonly code: NonNullable<Verdict>['error'],
    detail: string,
  ) {
    super(detail);
  }
}

function fail(detail: string, code: NonNullable<Verdict>['error'] = 'invalid_blocks'): never {
  throw new Refused(code, detail);
}

function textObject(where: string, t: unknown, max: number, plainOnly = false): void {
  if (!isObject(t)) fail(`${where}: a text object is required`);
  if (t.type !== 'plain_text' && t.type !== 'mrkdwn') fail(`${where}: text type ${String(t.type)}`);
  if (plainOnly && t.type !== 'plain_text') fail(`${where}: must be plain_text`);
  // `emoji` belongs to plain_text only, `verbatim` to mrkdwn only.
  if (t.type === 'mrkdwn' && t.emoji !== undefined) fail(`${where}: emoji is only for plain_text`);
  if (t.type === 'plain_text' && t.verbatim !== undefined) fail(`${where}: verbatim is only for mrkdwn`);
  if (typeof t.text !== 'string' || t.text.length === 0) fail(`${where}: empty text`);
  if (t.text.length > max) fail(`${where}: text of ${t.text.length} characters, max ${max}`);
}

function confirmObject(where: string, c: unknown): void {
  if (!isObject(c)) fail(`${where}: confirm must be an object`);
  if (c.style !== undefined && c.style !== 'primary' && c.style !== 'danger') fail(`${where}: style ${String(c.style)}`);
  textObject(`${where}.title`, c.title, 100, true);
  textObject(`${where}.text`, c.text, 300);
  textObject(`${where}.confirm`, c.confirm, 30, true);
  textObject(`${where}.deny`, c.deny, 30, true);
}

/** An option object: text 75 (plain_text in selects and overflow), value 150, description 75. */
function options(where: string, list: unknown, min: number, max: number): void {
  if (!Array.isArray(list) || list.length < min || list.length > max) fail(`${where}: ${min} to ${max} options`);
  list.forEach((o, i) => {
    if (!isObject(o)) fail(`${where}[${i}]: option must be an object`);
    textObject(`${where}[${i}].text`, o.text, 75);
    if (len(o.value) === 0 || len(o.value) > 150) fail(`${where}[${i}]: option value of ${len(o.value)} characters, 1 to 150`);
    if (o.description !== undefined) textObject(`${where}[${i}].description`, o.description, 75);
  });
}

const isWhole = (v: unknown, min: number, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

function element(where: string, e: unknown): void {
  if (!isObject(e)) fail(`${where}: element must be an object`);
  if (len(e.action_id) > 255) fail(`${where}: action_id over 255`);
  switch (e.type) {
    case 'button':
      textObject(`${where}.text`, e.text, 75, true);
      if (len(e.value) > 2000) fail(`${where}: button value of ${len(e.value)} characters, max 2000`);
      if (len(e.url) > 3000) fail(`${where}: url over 3000`);
      if (e.style !== undefined && e.style !== 'primary' && e.style !== 'danger') fail(`${where}: style ${String(e.style)}`);
      if (e.accessibility_label !== undefined && (len(e.accessibility_label) === 0 || len(e.accessibility_label) > 75)) fail(`${where}: accessibility_label, 1 to 75`);
      if (e.confirm !== undefined) confirmObject(`${where}.confirm`, e.confirm);
      return;
    case 'plain_text_input':
      if (e.placeholder !== undefined) textObject(`${where}.placeholder`, e.placeholder, 150, true);
      if (e.max_length !== undefined && !isWhole(e.max_length, 1, 3000)) fail(`${where}: max_length must be a whole number from 1 to 3000`);
      if (e.min_length !== undefined && !isWhole(e.min_length, 0, 3000)) fail(`${where}: min_length must be a whole number from 0 to 3000`);
      if (typeof e.min_length === 'number' && typeof e.max_length === 'number' && e.min_length > e.max_length) fail(`${where}: min_length over max_length`);
      if (typeof e.initial_value === 'string' && typeof e.max_length === 'number' && e.initial_value.length > e.max_length) fail(`${where}: initial_value over max_length`);
      return;
    case 'image':
      if (len(e.alt_text) === 0) fail(`${where}: image without alt_text`);
      return;
    case 'static_select':
    case 'multi_static_select':
      if (e.placeholder !== undefined) textObject(`${where}.placeholder`, e.placeholder, 150, true);
      if (e.option_groups === undefined) options(`${where}.options`, e.options, 1, 100);
      else if (!Array.isArray(e.option_groups) || e.option_groups.length === 0 || e.option_groups.length > 100) fail(`${where}: 1 to 100 option_groups`);
      else e.option_groups.forEach((g, i) => isObject(g) ? (textObject(`${where}.option_groups[${i}].label`, g.label, 75, true), options(`${where}.option_groups[${i}].options`, g.options, 1, 100)) : fail(`${where}: option group`));
      if (e.confirm !== undefined) confirmObject(`${where}.confirm`, e.confirm);
      return;
    case 'users_select':
    case 'conversations_select':
    case 'channels_select':
    case 'datepicker':
      if (e.placeholder !== undefined) textObject(`${where}.placeholder`, e.placeholder, 150, true);
      if (e.confirm !== undefined) confirmObject(`${where}.confirm`, e.confirm);
      return;
    case 'overflow':
      options(`${where}.options`, e.options, 2, 5);
      if (e.confirm !== undefined) confirmObject(`${where}.confirm`, e.confirm);
      return;
    case 'checkboxes':
    case 'radio_buttons':
      options(`${where}.options`, e.options, 1, 10);
      if (e.confirm !== undefined) confirmObject(`${where}.confirm`, e.confirm);
      return;
    default:
      fail(`${where}: unknown element type ${String(e.type)}`);
  }
}

function block(where: string, b: unknown): void {
  if (!isObject(b)) fail(`${where}: block must be an object`);
  if (len(b.block_id) > 255) fail(`${where}: block_id over 255`);
  switch (b.type) {
    case 'section': {
      if (b.text === undefined && b.fields === undefined) fail(`${where}: section without text or fields`);
      if (b.text !== undefined) textObject(`${where}.text`, b.text, 3000);
      if (b.fields !== undefined) {
        if (!Array.isArray(b.fields) || b.fields.length === 0 || b.fields.length > 10) fail(`${where}: 1 to 10 fields`);
        b.fields.forEach((f, i) => textObject(`${where}.fields[${i}]`, f, 2000));
      }
      if (b.accessory !== undefined) element(`${where}.accessory`, b.accessory);
      return;
    }
    case 'context': {
      if (!Array.isArray(b.elements) || b.elements.length === 0 || b.elements.length > 10) fail(`${where}: 1 to 10 context elements`);
      b.elements.forEach((e, i) => (isObject(e) && e.type === 'image' ? element(`${where}.elements[${i}]`, e) : textObject(`${where}.elements[${i}]`, e, 3000)));
      return;
    }
    case 'header':
      textObject(`${where}.text`, b.text, 150, true);
      return;
    case 'actions': {
      if (!Array.isArray(b.elements) || b.elements.length === 0 || b.elements.length > 25) fail(`${where}: 1 to 25 actions elements`);
      b.elements.forEach((e, i) => element(`${where}.elements[${i}]`, e));
      const ids = b.elements.map((e) => (isObject(e) ? e.action_id : undefined)).filter((id) => id !== undefined);
      if (new Set(ids).size !== ids.length) fail(`${where}: action_id repeated in one block`);
      return;
    }
    case 'divider':
      return;
    case 'input':
      textObject(`${where}.label`, b.label, 2000, true);
      if (b.hint !== undefined) textObject(`${where}.hint`, b.hint, 2000, true);
      element(`${where}.element`, b.element);
      return;
    case 'image':
      if (len(b.image_url) === 0 || len(b.alt_text) === 0) fail(`${where}: image needs image_url and alt_text`);
      return;
    default:
      fail(`${where}: unknown block type ${String(b.type)}`);
  }
}

function blocks(value: unknown, max: number): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) fail('blocks must be an array');
  if (value.length > max) fail(`${value.length} blocks, max ${max}`);
  value.forEach((b, i) => block(`blocks[${i}]`, b));
  const ids = value.map((b) => (isObject(b) ? b.block_id : undefined)).filter((id) => id !== undefined);
  if (new Set(ids).size !== ids.length) fail('a block_id repeated in one payload');
}

/** A message body for chat.postMessage, chat.update, chat.postEphemeral or a response_url. */
function message(body: Json): void {
  const text = body.text;
  if (typeof text === 'string' && text.length > 40_000) fail(`text of ${text.length} characters, max 40000`, 'msg_too_long');
  const hasBlocks = Array.isArray(body.blocks) && body.blocks.length > 0;
  // Slack takes blocks without text but then has nothing for notifications and
  // screen readers; docs/ARCHITECTURE.md, section 13 requires the fallback, so the fake refuses it.
  if (hasBlocks && (typeof text !== 'string' || text.trim() === '')) fail('blocks without a top-level text fallback', 'no_text');
  if (!hasBlocks && (typeof text !== 'string' || text.trim() === '') && body.delete_original !== true && !Array.isArray(body.attachments)) {
    fail('neither text nor blocks', 'no_text');
  }
  blocks(body.blocks, 50);
}

function view(v: unknown): void {
  if (!isObject(v)) fail('view must be an object', 'invalid_arguments');
  if (v.type === 'modal') {
    textObject('view.title', v.title, 24, true);
    if (v.submit !== undefined) textObject('view.submit', v.submit, 24, true);
    if (v.close !== undefined) textObject('view.close', v.close, 24, true);
    // Slack: "submit is required when an input block is within the blocks array".
    if (v.submit === undefined && Array.isArray(v.blocks) && v.blocks.some((b) => isObject(b) && b.type === 'input')) {
      fail('view.submit is required with an input block', 'invalid_arguments');
    }
  } else if (v.type !== 'home') fail(`view type ${String(v.type)}`, 'invalid_arguments');
  if (len(v.private_metadata) > 3000) fail(`private_metadata of ${len(v.private_metadata)} characters, max 3000`, 'invalid_arguments');
  if (len(v.callback_id) > 255) fail('callback_id over 255', 'invalid_arguments');
  blocks(v.blocks, 100);
}

const CHECKS: Record<string, (body: Json) => void> = {
  'chat.postMessage': message,
  'chat.postEphemeral': message,
  'chat.update': message,
  response_url: message,
  'views.open': (b) => view(b.view),
  'views.push': (b) => view(b.view),
  'views.update': (b) => view(b.view),
  'views.publish': (b) => view(b.view),
};

/** What Slack answers `method` with `body`: null when it takes it, else the error code and why. */
export function judge(method: string, body: Json): Verdict {
  const check = CHECKS[method];
  if (!check) return null;
  try {
    check(body);
    return null;
  } catch (error) {
    if (error instanceof Refused) return { error: error.code, detail: error.message };
    throw error;
  }
}
