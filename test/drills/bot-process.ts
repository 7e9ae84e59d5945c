/**
 * The real bot as a child process (`node --import tsx src/main.ts`), the way
 * `npm start` runs it, with every address pointed at local servers. Each bot
 * listens on a port of its own choosing (PORT=0), read from its
 * `jamjet is running` log line; its JSON log lines are kept for assertions.
 *
 * Every bot started here is remembered, so `stopAllBots()` in an afterEach
 * leaves nothing running even when a test fails half-way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SIGNING_SECRET } from '../helpers/slack.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface BotOptions {
  /** The FakeSlack server's base URL, e.g. http://127.0.0.1:1234. */
  readonly slackUrl: string;
  /** An absolute path; the bot gets `DATABASE_URL=sqlite:<path>`. */
  readonly databaseFile?: string;
  /** A whole `DATABASE_URL` (e.g. postgres://...), instead of `databaseFile`. */
  readonly databaseUrl?: string;
  /**
   * Loads movable-clock.ts into the bot, so that `advanceClock()` can move
   * its `Date.now` ahead (time passing for that process only, e.g. past a
   * job lease), over an IPC channel.
   */
  readonly movableClock?: boolean;
  /** A local GitHub stub; without it the bot has no GitHub credentials. */
  readonly githubUrl?: string;
  readonly pollSeconds?: number;
  /** A label for failure messages. */
  readonly name?: string;
  readonly startTimeoutMs?: number;
  /** JAMJET_ADMIN_USERS: Slack ids that may link GitHub targets without a GitHub connection. */
  readonly adminUsers?: readonly string[];
}

export interface LogLine {
  readonly level?: string;
  readonly msg?: string;
  readonly [field: string]: unknown;
}

const running = new Set<BotProcess>();

export class BotProcess {
  /** Parsed JSON log lines from stdout. */
  readonly logs: LogLine[] = [];
  /** Every raw line, stdout and stderr, for failure messages and leak checks. */
  readonly output: string[] = [];
  port = 0;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitedFlag = false;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitedFlag = true;
        running.delete(this);
        resolve({ code, signal });
      });
    });
    const collect = (stream: NodeJS.ReadableStream | null, parse: boolean) => {
      let rest = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.trim()) continue;
          this.output.push(line);
          if (!parse) continue;
          try {
            this.logs.push(JSON.parse(line) as LogLine);
          } catch {
            // Not a log line (a warning printed by a library); kept in `output`.
          }
        }
      });
    };
    collect(child.stdout, true);
    collect(child.stderr, false);
  }

  get isRunning(): boolean {
    return !this.exitedFlag;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Log lines at `error` level. */
  errors(): LogLine[] {
    return this.logs.filter((l) => l.level === 'error');
  }

  /** Every output line, log or not, that matches. */
  linesMentioning(pattern: RegExp): string[] {
    return this.output.filter((l) => pattern.test(l));
  }

  /** A crash: no shutdown hook runs, in-flight work is lost mid-way. */
  async kill(): Promise<void> {
    if (!this.exitedFlag) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** A graceful stop (SIGTERM), falling back to SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.exitedFlag) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /**
   * Moves this bot's `Date.now` `ms` milliseconds ahead (started with
   * `movableClock`); resolves once the bot confirms. Timers are not moved.
   */
  advanceClock(ms: number): Promise<void> {
    const { child } = this;
    if (!child.send) throw new Error(`${this.name} was not started with movableClock`);
    return new Promise((resolve, reject) => {
      const onMessage = (message: unknown) => {
        if ((message as { clockAdvancedMs?: number } | null)?.clockAdvancedMs === undefined) return;
        child.off('message', onMessage);
        resolve();
      };
      child.on('message', onMessage);
      child.send({ advanceClockMs: ms }, (error) => {
        if (error) {
          child.off('message', onMessage);
          reject(error);
        }
      });
    });
  }

  describe(): string {
    return `${this.name} (pid ${this.child.pid}) output:\n${this.output.slice(-40).join('\n')}`;
  }
}

/** Starts the bot and resolves once `/healthz` answers 200. */
export async function startBot(options: BotOptions): Promise<BotProcess> {
  const name = options.name ?? 'bot';
  if (!options.databaseUrl === !options.databaseFile) throw new Error('startBot needs exactly one of databaseFile and databaseUrl');
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    SLACK_BOT_TOKEN: 'xoxb-drill-token',
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: `${options.slackUrl}/api/`,
    PORT: '0',
    DATABASE_URL: options.databaseUrl ?? `sqlite:${options.databaseFile}`,
    GITHUB_TOKEN: options.githubUrl ? 'ghp_drilldrilldrilldrilldrilldrill0001' : '',
    GITHUB_API_URL: options.githubUrl ?? 'http://127.0.0.1:9',
    JOBS_POLL_SECONDS: String(options.pollSeconds ?? 1),
    LOG_LEVEL: 'info',
    // Set, so that a developer's .env (which never overrides the environment) cannot switch modes.
    SLACK_APP_TOKEN: '',
    GITHUB_APP_ID: '',
    GITHUB_APP_PRIVATE_KEY: '',
    GITHUB_APP_INSTALLATION_ID: '',
    JAMJET_ADMIN_USERS: (options.adminUsers ?? []).join(','),
  };
  const clock = options.movableClock ? ['--import', './test/drills/movable-clock.ts'] : [];
  const child = spawn(process.execPath, ['--import', 'tsx', ...clock, 'src/main.ts'], {
    cwd: ROOT,
    env,
    stdio: options.movableClock ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  const bot = new BotProcess(name, child);
  running.add(bot);

  const deadline = Date.now() + (options.startTimeoutMs ?? 25_000);
  while (bot.port === 0) {
    const started = bot.logs.find((l) => l.msg === 'jamjet is running');
    if (started) {
      bot.port = Number(started.port);
      break;
    }
    if (!bot.isRunning) throw new Error(`${name} exited before it was running.\n${bot.describe()}`);
    if (Date.now() > deadline) {
      await bot.kill();
      throw new Error(`${name} did not start in time.\n${bot.describe()}`);
    }
    await sleep(25);
  }
  const health = await fetch(`${bot.url}/healthz`);
  if (health.status !== 200) throw new Error(`${name} /healthz answered ${health.status}.\n${bot.describe()}`);
  return bot;
}

/** For afterEach: no bot outlives its test. */
export async function stopAllBots(): Promise<void> {
  await Promise.all([...running].map((bot) => bot.kill()));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
