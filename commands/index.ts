/** Every `/jamjet` command, in the order `help` lists them. */
import type { AnyCommand } from '../src/slack/command.ts';
import approvalsList from './approvals-list.ts';
import audit from './audit.ts';
import events from './events.ts';
import githubConnect from './github-connect.ts';
import githubDisconnect from './github-disconnect.ts';
import githubLink from './github-link.ts';
import githubList from './github-list.ts';
import githubUnlink from './github-unlink.ts';
import help from './help.ts';
import keysCreate from './keys-create.ts';
import keysList from './keys-list.ts';
import keysRevoke from './keys-revoke.ts';
import keysRotate from './keys-rotate.ts';
import membersInvite from './members-invite.ts';
import membersList from './members-list.ts';
import membersRemove from './members-remove.ts';
import membersRole from './members-role.ts';
import policiesAdd from './policies-add.ts';
import policiesList from './policies-list.ts';
import policiesMove from './policies-move.ts';
import policiesRemove from './policies-remove.ts';
import projectsChannel from './projects-channel.ts';
import projectsCreate from './projects-create.ts';
import projectsDelete from './projects-delete.ts';
import projectsInfo from './projects-info.ts';
import projectsList from './projects-list.ts';
import projectsSet from './projects-set.ts';
import whoami from './whoami.ts';

export const COMMANDS: readonly AnyCommand[] = [
  help,
  whoami,
  projectsCreate,
  projectsList,
  projectsInfo,
  projectsDelete,
  projectsChannel,
  projectsSet,
  membersList,
  membersInvite,
  membersRole,
  membersRemove,
  keysList,
  keysCreate,
  keysRotate,
  keysRevoke,
  githubConnect,
  githubDisconnect,
  githubLink,
  githubList,
  githubUnlink,
  policiesList,
  policiesAdd,
  policiesRemove,
  policiesMove,
  approvalsList,
  audit,
  events,
];
