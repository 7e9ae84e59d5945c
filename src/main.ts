/** Composition root: configuration, then the app, then signals. */
import { startApp, StartupError } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './logger.ts';

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
  const log = createLogger(config.logLevel);
  try {
    const app = await startApp(config, { log });
    const shutdown = (signal: string) => {
      log.info('shutting down', { signal });
      app.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          log.error('shutdown failed', { error });
          process.exit(1);
        },
      );
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  } catch (error) {
    if (error instanceof StartupError) {
      log.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}

await main();
