/** Projects and API keys for the HTTP benchmarks, made through the product's own services. */
import type { RunningApp } from '../../src/app.ts';
import type { Project } from '../../src/services/access.ts';
import { issueKey } from '../../src/services/keys.ts';
import { createProjects } from '../../src/services/projects.ts';

/** The Slack user who creates every bench project, so is their Owner. */
export const BENCH_USER = 'UBENCH';

export interface BenchProject {
  readonly project: Project;
  /** `Bearer jj_...` of a key of this project. */
  readonly authorization: string;
}

export async function createBenchProject(app: RunningApp, name: string): Promise<BenchProject> {
  // Set-up acts as a workspace admin: benchmarks make more projects than one person may create (LIMITS).
  const created = await createProjects(app.services, { userId: BENCH_USER, isAdmin: true }, name, null);
  if (!created.ok) throw new Error(`cannot create project ${name}: ${created.error.message}`);
  const project = created.value[0]!.project;
  const { plaintext } = await issueKey(app.db, Date.now(), project, 'bench', BENCH_USER);
  return { project, authorization: `Bearer ${plaintext}` };
}
