import { deleteProject } from '../../services/projects.ts';
import { CONFIRM_BLOCK, CONFIRM_INPUT, DELETE_PROJECT_CALLBACK, projectDeletedModal } from '../views/delete-project.ts';
import type { ListenerDeps } from './deps.ts';
import type { Interactions } from './dispatch.ts';

/** The typed-name confirmation of `projects delete`. */
export function registerProjectListeners(app: Interactions, deps: ListenerDeps): void {
  app.view(DELETE_PROJECT_CALLBACK, async ({ ack, body, view }) => {
    const { project, id } = JSON.parse(view.private_metadata) as { project: string; id?: number };
    const typed = view.state.values[CONFIRM_BLOCK]?.[CONFIRM_INPUT]?.value ?? '';
    const result = deleteProject(deps.services, deps.actorOf(body.user.id), project, typed, typeof id === 'number' ? id : undefined);
    if (!result.ok) {
      await ack({ response_action: 'errors', errors: { [CONFIRM_BLOCK]: result.error.message.replace(/`/g, '') } });
      return;
    }
    await ack({ response_action: 'update', view: projectDeletedModal(project) });
  });
}
