// The commands dc-agent has, one file each.
import { Command } from 'commander';
import { AGENT_VERSION } from '../version.js';
import { doctorCommand } from './doctor.js';
import { drainCommand } from './drain.js';
import { resumeCommand } from './resume.js';
import { runCommand } from './run.js';
import { setupCommand } from './setup.js';
import { statusCommand } from './status.js';

export function buildProgram(): Command {
  const program = new Command('dc-agent')
    .description('The agent a provider runs on each hypervisor: registers with a pool, provisions its contracts.')
    .version(AGENT_VERSION, '-V, --version')
    .showHelpAfterError('(add --help for usage)');
  for (const cmd of [setupCommand(), runCommand(), doctorCommand(), statusCommand(), drainCommand(), resumeCommand()]) program.addCommand(cmd);
  return program;
}
