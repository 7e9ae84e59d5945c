import { z } from 'zod';
import { formatDuration } from '../src/core/duration.ts';
import { encodeTicket } from '../src/services/deliveries.ts';
import { rotationDetails, startRotation } from '../src/services/rotations.ts';
import { writeTargets } from '../src/services/secret-sync.ts';
import { duration, projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { deliverKey, dmOrRespond } from '../src/slack/delivery.ts';
import { date } from '../src/slack/mrkdwn.ts';
import { keyLabel, rotationReport } from '../src/slack/views/keys.ts';

const MAX_OVERLAP_SECONDS = 30 * 86_400;

export default defineCommand({
  group: 'keys',
  verb: 'rotate',
  usage: 'keys rotate <project> [<key-id>] [--overlap 24h] [--revoke-now]',
  summary:
    'Rotate a key with zero downtime (Admin and above): new key by DM, written to linked GitHub secrets, old key valid until you revoke it.',
  positionals: ['project', 'keyId?'],
  flags: { overlap: 'value', 'revoke-now': 'boolean' },
  schema: z
    .object({
      project: projectName,
      keyId: z.string().toLowerCase().optional(),
      overlap: duration
        .refine((s) => s <= MAX_OVERLAP_SECONDS, { error: 'The overlap can be at most 30d.' })
        .default(86_400),
      revokeNow: z.boolean().optional(),
    }),
  async run(ctx, { project: name, keyId, overlap, revokeNow }) {
    const result = await startRotation(ctx.services, ctx.actor, name, keyId ?? null, overlap, revokeNow === true);
    if (!result.ok) return result.error;
    const { rotation, key, plaintext, ticket, targets } = result.value;
    const userId = ctx.actor.userId;
    const old = revokeNow
      ? 'The old key is revoked as of now.'
      : `Both keys work until you revoke the old one; I will remind you ${date(rotation.remindAt!)} (overlap ${formatDuration(overlap)}).`;
    const github = targets.length > 0 ? ` Writing it to ${targets.length} GitHub target${targets.length > 1 ? 's' : ''}; the result follows by DM.` : '';
    return {
      text: `:arrows_counterclockwise: Rotating \`${name}\`: new key ${keyLabel(key)}. ${old} Your one-time Reveal button is on its way by DM.${github}`,
      followUp: async (respond) => {
        await deliverKey(ctx, userId, { project: name, key, ticket }, respond);
        // Paused targets alone still get the report: it says they were not written and who may link them again.
        if (targets.length === 0 && (await rotationDetails(ctx.services.db, rotation.id))!.paused.length === 0) return;
        await writeTargets(ctx.services, ctx.secrets, rotation.id, targets, plaintext, userId);
        const report = rotationReport((await rotationDetails(ctx.services.db, rotation.id))!, encodeTicket(ticket));
        await dmOrRespond(ctx, userId, report, respond);
      },
    };
  },
});
