/**
 * Slack's Socket Mode end on 127.0.0.1: a small WebSocket server (RFC 6455:
 * the upgrade handshake, text, ping, pong and close frames) that speaks
 * Slack's envelopes (https://api.slack.com/apis/socket-mode): `hello` on
 * connect, then `slash_commands`, `interactive`, `events_api` and
 * `disconnect`, and collects the app's acknowledgements by `envelope_id`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface Ack {
  readonly envelope_id: string;
  readonly payload?: Record<string, unknown>;
}

function frame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const head =
    length < 126
      ? Buffer.from([0x80 | opcode, length])
      : length < 65536
        ? Buffer.from([0x80 | opcode, 126, length >> 8, length & 0xff])
        : (() => {
            const b = Buffer.alloc(10);
            b[0] = 0x80 | opcode;
            b[1] = 127;
            b.writeBigUInt64BE(BigInt(length), 2);
            return b;
          })();
  return Buffer.concat([head, payload]);
}

/** One client connection: reads masked client frames, writes unmasked server frames. */
class Connection {
  private buffer = Buffer.alloc(0);
  closed = false;

  constructor(
    readonly socket: Socket,
    private readonly onText: (text: string) => void,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.read();
    });
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => {
      this.closed = true;
    });
  }

  send(value: unknown): void {
    if (!this.closed) this.socket.write(frame(0x1, Buffer.from(JSON.stringify(value))));
  }

  close(): void {
    if (!this.closed) this.socket.end(frame(0x8, Buffer.from([0x03, 0xe8])));
    this.closed = true;
  }

  private read(): void {
    for (;;) {
      if (this.buffer.length < 2) return;
      const opcode = this.buffer[0]! & 0x0f;
      const masked = (this.buffer[1]! & 0x80) !== 0;
      let length = this.buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) return;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) return;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      const maskAt = offset;
      if (masked) offset += 4;
      if (this.buffer.length < offset + length) return;
      const payload = Buffer.from(this.buffer.subarray(offset, offset + length));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= this.buffer[maskAt + (i % 4)]!;
      this.buffer = this.buffer.subarray(offset + length);
      if (opcode === 0x1) this.onText(payload.toString('utf8'));
      else if (opcode === 0x9) this.socket.write(frame(0xa, payload));
      else if (opcode === 0x8) {
        if (!this.closed) this.socket.end(frame(0x8, payload));
        this.closed = true;
      }
    }
  }
}

export class FakeSocketMode {
  readonly acks: Ack[] = [];
  readonly connections: Connection[] = [];
  /** Send `hello` as soon as a client connects; off to hold the bot before it is connected. */
  autoHello = true;
  private server: Server | null = null;
  private port = 0;

  /** The address `apps.connections.open` answers with. */
  get url(): string {
    return `ws://127.0.0.1:${this.port}/link/?ticket=${randomUUID()}`;
  }

  async listen(): Promise<this> {
    const server = createServer((_req, res) => res.writeHead(426).end());
    server.on('upgrade', (req, socket: Socket) => {
      const key = String(req.headers['sec-websocket-key'] ?? '');
      const accept = createHash('sha1').update(key + GUID).digest('base64');
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      const connection = new Connection(socket, (text) => this.acks.push(JSON.parse(text) as Ack));
      this.connections.push(connection);
      if (this.autoHello) this.hello(connection);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  /** The live connection (the newest that is open). */
  get current(): Connection {
    const open = this.connections.filter((c) => !c.closed);
    const last = open[open.length - 1];
    if (!last) throw new Error('no open Socket Mode connection');
    return last;
  }

  hello(connection: Connection = this.current): void {
    connection.send({ type: 'hello', num_connections: 1, debug_info: { host: 'applink-test', approximate_connection_time: 18060 }, connection_info: { app_id: 'A0APP' } });
  }

  /** Sends an envelope of `type` with `payload`; returns its envelope_id. */
  envelope(type: 'slash_commands' | 'interactive' | 'events_api', payload: Record<string, unknown>): string {
    const id = randomUUID();
    this.current.send({ envelope_id: id, type, payload, accepts_response_payload: type !== 'events_api', ...(type === 'events_api' ? { retry_attempt: 0, retry_reason: '' } : {}) });
    return id;
  }

  /** Slack asks the client to reconnect (it is about to recycle the connection). */
  disconnect(reason = 'refresh_requested'): void {
    this.current.send({ type: 'disconnect', reason, debug_info: { host: 'applink-test' } });
  }

  ackOf(envelopeId: string): Ack | undefined {
    return this.acks.find((a) => a.envelope_id === envelopeId);
  }

  async close(): Promise<void> {
    for (const c of this.connections) {
      c.socket.destroy();
      c.closed = true;
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
