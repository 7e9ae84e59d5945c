/**
 * Loaded into a drill's bot process with `--import` (bot-process.ts,
 * `movableClock`): `Date.now` becomes the real clock plus an offset that the
 * test moves ahead by sending `{ advanceClockMs }` over the IPC channel; the
 * bot answers `{ clockAdvancedMs }` (the whole offset) once it applies. The
 * product reads time through `Date.now` (src/app.ts), so job leases, backoffs
 * and expiries see the time pass; timers (`setTimeout`) do not move.
 */
const realNow = Date.now.bind(Date);
let offsetMs = 0;

Date.now = () => realNow() + offsetMs;

process.on('message', (message: unknown) => {
  const ms = (message as { advanceClockMs?: unknown } | null)?.advanceClockMs;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return;
  offsetMs += ms;
  process.send?.({ clockAdvancedMs: offsetMs });
});
// The channel alone must not keep a bot alive that has otherwise stopped.
process.channel?.unref();
