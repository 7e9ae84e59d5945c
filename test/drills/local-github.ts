/**
 * GitHub's Actions secrets API for one repository (acme/api), as a real
 * server on 127.0.0.1 for a bot in another process: the public key (a fresh
 * libsodium key pair), PUT of a sealed secret, and the read-back. PUTs can be
 * made to hang, to crash the bot while it is writing a secret.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sodium from 'libsodium-wrappers';

export interface GitHubCall {
  readonly method: string;
  readonly path: string;
  readonly body: Record<string, unknown> | null;
}

const PUBLIC_KEY = /^\/repos\/([^/]+)\/([^/]+)\/actions\/secrets\/public-key$/;
const SECRET = /^\/repos\/([^/]+)\/([^/]+)\/actions\/secrets\/([^/]+)$/;

export class LocalGitHub {
  readonly calls: GitHubCall[] = [];
  /** Secrets GitHub holds, by `owner/repo/NAME`. */
  readonly secrets = new Map<string, { encryptedValue: string; keyId: string; updatedAt: string }>();
  readonly keyId = '568250167242549743';
  readonly repos = new Set(['acme/api']);
  /** While true, a PUT is recorded and never answered. */
  hangWrites = false;
  url = '';
  private keys!: { publicKey: Uint8Array; privateKey: Uint8Array };
  private server: Server | null = null;
  private readonly hanging: ServerResponse[] = [];

  async listen(): Promise<this> {
    await sodium.ready;
    this.keys = sodium.crypto_box_keypair();
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  /** Opens a sealed box as GitHub would. */
  open(encryptedValue: string): string {
    const sealed = sodium.from_base64(encryptedValue, sodium.base64_variants.ORIGINAL);
    return sodium.to_string(sodium.crypto_box_seal_open(sealed, this.keys.publicKey, this.keys.privateKey));
  }

  writes(): GitHubCall[] {
    return this.calls.filter((c) => c.method === 'PUT');
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const res of this.hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: Record<string, unknown> | null = null;
    try {
      body = raw ? (JSON.parse(raw) as Record<string, unknown>) : null;
    } catch {
      body = null;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    const method = req.method ?? 'GET';
    this.calls.push({ method, path, body });
    const send = (status: number, json?: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(json === undefined ? '' : JSON.stringify(json));
    };

    const key = PUBLIC_KEY.exec(path);
    if (key) {
      if (method !== 'GET' || !this.repos.has(`${key[1]}/${key[2]}`)) return send(404, { message: 'Not Found' });
      return send(200, { key_id: this.keyId, key: sodium.to_base64(this.keys.publicKey, sodium.base64_variants.ORIGINAL) });
    }
    const secret = SECRET.exec(path);
    if (secret && this.repos.has(`${secret[1]}/${secret[2]}`)) {
      const id = `${secret[1]}/${secret[2]}/${decodeURIComponent(secret[3]!)}`;
      if (method === 'PUT') {
        if (this.hangWrites) {
          this.hanging.push(res);
          return;
        }
        const existed = this.secrets.has(id);
        this.secrets.set(id, {
          encryptedValue: String(body?.encrypted_value ?? ''),
          keyId: String(body?.key_id ?? ''),
          updatedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        });
        return send(existed ? 204 : 201, existed ? undefined : {});
      }
      if (method === 'GET') {
        const held = this.secrets.get(id);
        if (!held) return send(404, { message: 'Not Found' });
        return send(200, { name: secret[3], created_at: held.updatedAt, updated_at: held.updatedAt });
      }
    }
    send(404, { message: 'Not Found' });
  }
}
