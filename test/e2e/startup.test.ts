import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import nock from 'nock';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.ts';
import { FakeSlack } from '../helpers/slack.ts';

afterEach(() => {
  nock.cleanAll();
});

describe('start-up', () => {
  it('stops with one clear sentence when Slack refuses the bot token', async () => {
    const slack = new FakeSlack().on('auth.test', () => ({ ok: false, error: 'invalid_auth' }));
    await expect(startTestApp({ slack })).rejects.toThrow(
      "Slack refused SLACK_BOT_TOKEN (invalid_auth); copy the Bot User OAuth Token from the app's OAuth & Permissions page.",
    );
  });

  it('stops with one clear sentence when PORT is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      await expect(startTestApp({ env: { PORT: String(port) } })).rejects.toThrow(`PORT ${port} is already in use`);
    } finally {
      taken.close();
    }
  });
});
