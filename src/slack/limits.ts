/**
 * The one place that knows Slack's limits (docs/ARCHITECTURE.md, section 13, from Slack's
 * Block Kit reference: https://api.slack.com/reference/block-kit/blocks and
 * chat.postMessage's "Truncating content"). Every Block Kit builder and every
 * reply goes through these helpers, so no payload the bot builds is refused
 * with `invalid_blocks` or silently cut by Slack.
 *
 * Sizes are counted on the text as sent, after escaping: `&amp;`, `&lt;` and
 * `&gt;` count in full. Lengths are UTF-16 code units, the unit Slack counts;
 * truncation never splits a surrogate pair, an escape such as `&amp;` or a
 * Slack token such as `<@U123>` or `<!date^...|...>`, and ends in a visible "…".
 */
import type { KnownBlock, View } from '@slack/web-api';
import type { AppError } from '../core/errors.ts';
import type { Message } from './surface.ts';

export const LIMITS = {
  /** Blocks in a message. */
  messageBlocks: 50,
  /** Blocks in a modal or the Home tab. */
  viewBlocks: 100,
  /** A section's text, and each context element. */
  sectionText: 3000,
  sectionFields: 10,
  fieldText: 2000,
  headerText: 150,
  buttonText: 75,
  buttonValue: 2000,
  actionId: 255,
  blockId: 255,
  actionsElements: 25,
  contextElements: 10,
  /** Modal title, submit and close. */
  modalTitle: 24,
  privateMetadata: 3000,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  /** Slack cuts a message's `text` past this. */
  messageText: 40_000,
  /** What reads well in one answer: lists are paged well below Slack's cut. */
  answer: 4000,
} as const;

export const ELLIPSIS = '…';

/**
 * `text` cut to at most `max` UTF-16 code units, ending in "…" when cut.
 * Never splits a surrogate pair, an HTML escape (`&amp;`, `&lt;`, `&gt;`) or
 * a Slack `<...>` token (mentions, channel links, dates), and never leaves an
 * inline code span or a code fence open. `verbatim` is for text that goes
 * inside a code block: backticks are literal there.
 */
export function truncate(text: string, max: number, verbatim = false): string {
  if (text.length <= max) return text;
  if (max <= ELLIPSIS.length) return ELLIPSIS.slice(0, Math.max(0, max));
  let cut = max - ELLIPSIS.length;
  const high = text.charCodeAt(cut - 1);
  if (high >= 0xd800 && high <= 0xdbff) cut--;
  // An escape is at most 5 characters: `&amp;`.
  const amp = text.lastIndexOf('&', cut - 1);
  if (amp >= 0 && cut - amp < 5) {
    const semi = text.indexOf(';', amp);
    if (semi === -1 || semi >= cut) cut = amp;
  }
  // A Slack token `<...>` is whole or absent.
  const open = text.lastIndexOf('<', cut - 1);
  if (open >= 0 && text.lastIndexOf('>', cut - 1) < open) cut = open;
  let head = text.slice(0, cut);
  if (verbatim) return head + ELLIPSIS;
  // Close a code fence or an inline code span the cut left open.
  const fences = head.split('```').length - 1;
  if (fences % 2 === 1) {
    head = closeFence(head, max);
    return head;
  }
  const ticks = (head.match(/`/g) ?? []).length;
  if (ticks % 2 === 1) {
    head = head.slice(0, head.lastIndexOf('`'));
  }
  return head + ELLIPSIS;
}

/** A cut inside a ``` fence: keep the fence, put "…" inside it and close it within `max`. */
function closeFence(head: string, max: number): string {
  const room = max - ELLIPSIS.length - 3;
  let body = head.length > room ? head.slice(0, room) : head;
  const high = body.charCodeAt(body.length - 1);
  if (high >= 0xd800 && high <= 0xdbff) body = body.slice(0, -1);
  const amp = body.lastIndexOf('&');
  if (amp >= 0 && body.length - amp < 5 && !body.slice(amp).includes(';')) body = body.slice(0, amp);
  // A fence that would close on a lone backtick or two reads badly: drop trailing backticks.
  body = body.replace(/`+$/, '');
  return `${body}${ELLIPSIS}\`\`\``;
}

/** Escaped mrkdwn in a section: at most 3,000 characters; never an empty text. */
export function section(text: string, extra: Partial<Omit<Extract<KnownBlock, { type: 'section' }>, 'type' | 'text'>> = {}): KnownBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: nonEmpty(truncate(text, LIMITS.sectionText)) }, ...extra };
}

/** One context element of escaped mrkdwn, at most 3,000 characters. */
export function context(text: string): KnownBlock {
  return { type: 'context', elements: [{ type: 'mrkdwn', text: nonEmpty(truncate(text, LIMITS.sectionText)) }] };
}

/** A header: plain text, at most 150 characters. */
export function header(text: string): KnownBlock {
  return { type: 'header', text: { type: 'plain_text', text: nonEmpty(truncate(text, LIMITS.headerText)) } };
}

export interface ButtonInput {
  readonly actionId: string;
  readonly text: string;
  readonly value: string;
  readonly style?: 'primary' | 'danger';
}

/**
 * A button: text at most 75, `action_id` at most 255. A value over 2,000
 * characters is a bug in the caller (it carries an id or a ticket), so it
 * throws instead of being cut into something that no longer parses.
 */
export function button({ actionId, text, value, style }: ButtonInput) {
  if (value.length > LIMITS.buttonValue) throw new Error(`button ${actionId} value is ${value.length} characters; Slack allows ${LIMITS.buttonValue}`);
  if (actionId.length > LIMITS.actionId) throw new Error(`action_id ${actionId.slice(0, 40)}… is over ${LIMITS.actionId} characters`);
  return {
    type: 'button' as const,
    action_id: actionId,
    text: { type: 'plain_text' as const, text: nonEmpty(truncate(text, LIMITS.buttonText)) },
    value,
    ...(style ? { style } : {}),
  };
}

/** Modal title, submit or close label: plain text of at most 24 characters. */
export function modalText(text: string) {
  return { type: 'plain_text' as const, text: nonEmpty(truncate(text, LIMITS.modalTitle)) };
}

/** Never an empty text object: Slack refuses those. */
const nonEmpty = (text: string) => (text.trim() === '' ? ELLIPSIS : text);

/**
 * A message as Slack takes it: at most 50 blocks (the last becomes "N more
 * not shown" when there are more) and a `text` fallback of at most 4,000
 * characters, always present.
 */
export function fitMessage(message: Message): Message {
  const text = nonEmpty(truncate(message.text, LIMITS.answer));
  if (!message.blocks) return { text };
  return { text, blocks: fitBlocks(message.blocks, LIMITS.messageBlocks) as KnownBlock[] };
}

/** A modal or Home view: at most 100 blocks, `private_metadata` at most 3,000. */
export function fitView(view: View): View {
  if (view.private_metadata && view.private_metadata.length > LIMITS.privateMetadata) {
    throw new Error(`private_metadata is ${view.private_metadata.length} characters; Slack allows ${LIMITS.privateMetadata}`);
  }
  return { ...view, blocks: fitBlocks(view.blocks, LIMITS.viewBlocks) } as View;
}

function fitBlocks<B>(blocks: B[], max: number): (B | KnownBlock)[] {
  if (blocks.length <= max) return blocks;
  return [...blocks.slice(0, max - 1), context(`${blocks.length - max + 1} more blocks not shown.`)];
}

export interface PageInput {
  /** The list's bold first line, such as "*Members of `x`* (100)". */
  readonly title: string;
  /** One line per entry, escaped mrkdwn. */
  readonly lines: readonly string[];
  /** 1-based. */
  readonly page: number;
  /** The command that shows the list, without `/jamjet ` and `--page`, for the "next page" hint. */
  readonly command: string;
  /** Lines after the list, on every page (notes, hints). */
  readonly footer?: readonly string[];
  /** Characters a page may hold; defaults to LIMITS.answer. */
  readonly budget?: number;
}

/** The longest one entry may be: a line is cut before it can crowd out a page. */
const LINE_MAX = 600;

/**
 * One page of a list as an answer of at most `budget` characters: the title,
 * as many whole lines as fit, and "Page 2 of 4 · 37 more: `/jamjet ... --page 3`".
 * Pages are packed by size, so long entries make more pages, never a longer
 * answer. A page past the end is a refusal naming how many pages there are.
 */
export function pageOf(input: PageInput): { text: string } | AppError {
  const budget = input.budget ?? LIMITS.answer;
  const footer = (input.footer ?? []).join('\n');
  // Title, footer and the paging line are on every page; keep room for them.
  const reserve = input.title.length + footer.length + 160 + input.command.length;
  const room = Math.max(LINE_MAX, budget - reserve);
  const lines = input.lines.map((l) => truncate(l, LINE_MAX));
  const pages: { start: number; end: number }[] = [];
  let start = 0;
  while (start < lines.length) {
    let size = 0;
    let end = start;
    while (end < lines.length && (end === start || size + lines[end]!.length + 1 <= room)) {
      size += lines[end]!.length + 1;
      end++;
    }
    pages.push({ start, end });
    start = end;
  }
  const total = Math.max(1, pages.length);
  if (input.page > total) {
    return { code: 'bad_input', message: `There is no page ${input.page}: the list has ${total} page${total === 1 ? '' : 's'}.` };
  }
  const { start: from, end: to } = pages[input.page - 1] ?? { start: 0, end: 0 };
  const out = [input.title, ...lines.slice(from, to)];
  const more = lines.length - to;
  if (total > 1) {
    const where = `Page ${input.page} of ${total}`;
    out.push(more > 0 ? `_${where} · ${more} more: \`/jamjet ${input.command} --page ${input.page + 1}\`_` : `_${where}_`);
  }
  if (footer) out.push(footer);
  return { text: truncate(out.join('\n'), budget) };
}
