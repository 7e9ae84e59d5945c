/**
 * Composition root: configuration, then the app, then signals. A setting
 * that stops start-up is one line naming it, exit 1; any other error, at
 * start-up or later (an uncaught exception, an unhandled rejection), is one
 * JSON log line with its stack and cause (redacted like every line), exit 1.
 */
import { startApp, StartupError } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger, type Logger } from './logger.ts';

/** The configured logger once there is one; before that, one at `info`. */
let log: Logger | null = null;

function die(message: string, error: unknown): never {
  (log ?? createLogger('info')).error(message, { error });
  process.exit(1);
}

process.on('uncaughtException', (error) => die('unexpected error; stopping', error));

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  log = logger;
  try {
    const app = await startApp(config, { log });
    const shutdown = (signal: string) => {
      logger.info('shutting down', { signal });
      app.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error('shutdown failed', { error });
          process.exit(1);
        },
      );
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  } catch (error) {
    if (error instanceof StartupError) {
      logger.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}

await main().catch((error: unknown) => die('unexpected error at start-up; stopping', error));
