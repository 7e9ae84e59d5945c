import type { View } from '@slack/web-api';
import { modalText } from '../limits.ts';

export const DELETE_PROJECT_CALLBACK = 'project_delete';
export const CONFIRM_BLOCK = 'confirm';
export const CONFIRM_INPUT = 'name';

/** The confirmation modal: the person types the project's name to delete it. */
export function deleteProjectModal(project: string, projectId: number): View {
  return {
    type: 'modal',
    callback_id: DELETE_PROJECT_CALLBACK,
    // The id too: the submission is checked against the project the window was opened for.
    private_metadata: JSON.stringify({ project, id: projectId }),
    title: modalText('Delete project'),
    submit: modalText('Delete'),
    close: modalText('Cancel'),
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `This deletes \`${project}\`: its members lose access and its API keys stop working. The audit trail is kept.`,
        },
      },
      {
        type: 'input',
        block_id: CONFIRM_BLOCK,
        label: { type: 'plain_text', text: `Type ${project} to confirm` },
        element: { type: 'plain_text_input', action_id: CONFIRM_INPUT, placeholder: { type: 'plain_text', text: project } },
      },
    ],
  };
}

export function projectDeletedModal(project: string): View {
  return {
    type: 'modal',
    title: modalText('Project deleted'),
    close: modalText('Done'),
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `:wastebasket: \`${project}\` is deleted. Its audit trail is kept.` } }],
  };
}
