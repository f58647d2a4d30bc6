import { Command } from 'commander';
import { describeAgent, openSession, setOwnState } from '../drain.js';
import { configOption, example, jsonOption } from './options.js';

export interface ResumeOptions {
  config: string;
  json?: boolean;
}

export function resumeCommand(): Command {
  return new Command('resume')
    .summary('Take new provision work again after a drain')
    .description('Set this agent active again after dc-agent drain (or a drain by the provider): dc-api grants it new provision work. Exit code 78 when the agent was revoked.')
    .addOption(configOption())
    .addOption(jsonOption())
    .addHelpText('after', example('dc-agent resume --config /etc/dc-agent/config.toml'))
    .action(async (opts: ResumeOptions) => {
      const session = openSession(opts.config);
      try {
        const agent = await setOwnState(session, 'active', null);
        process.stdout.write(opts.json ? JSON.stringify(agent, null, 2) + '\n' : `Agent ${describeAgent(agent)} is ${agent.state}: dc-api grants it new provision work again.\n`);
      } finally {
        session.api.close();
      }
    });
}
