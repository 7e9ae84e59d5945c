import { z } from 'zod';
import { deleteProject } from '../../services/projects.ts';
import { CONFIRM_BLOCK, CONFIRM_INPUT, DELETE_PROJECT_CALLBACK, projectDeletedModal } from '../views/delete-project.ts';
import type { ListenerDeps } from './deps.ts';
import { textInput, type Interactions } from './dispatch.ts';

/** The typed-name confirmation: the project's name and id in the metadata, and what was typed. */
const DeleteForm = z.object({
  metadata: z.object({ project: z.string().min(1).max(63), id: z.number().int().positive() }),
  values: textInput(CONFIRM_BLOCK, CONFIRM_INPUT, 200).transform((typed) => typed ?? ''),
});

/** The typed-name confirmation of `projects delete`. */
export function registerProjectListeners(app: Interactions, deps: ListenerDeps): void {
  app.view(DELETE_PROJECT_CALLBACK, DeleteForm, async ({ ack, body }, { metadata: { project, id }, values: typed }) => {
    const result = await deleteProject(deps.services, deps.actorOf(body.user.id), project, typed, id);
    if (!result.ok) {
      await ack({ response_action: 'errors', errors: { [CONFIRM_BLOCK]: result.error.message.replace(/`/g, '') } });
      return;
    }
    await ack({ response_action: 'update', view: projectDeletedModal(project) });
  });
}
