import { Command, Option } from 'commander';
import type { PoolAgent } from '@dc/core';
import { DEFAULT_DRAIN_TIMEOUT_SECONDS, EXIT_NOT_DRAINED, checkReason, describeAgent, leases, openSession, parseTimeout, setOwnState, waitDrained } from '../drain.js';
import { configOption, example, jsonOption } from './options.js';

export interface DrainOptions {
  config: string;
  wait?: boolean;
  timeout?: string;
  reason?: string;
  json?: boolean;
}

export function drainCommand(): Command {
  const cmd: Command = new Command('drain')
    .summary('Stop taking new provision work; with --wait, wait until no lease is held')
    .description(
      `Drain this agent: dc-api grants it no new provision work, while it finishes what it holds and still tears down its own machines. With --wait, wait until it is drained (draining and holding no lease), then exit 0: safe to stop or reboot the host. Exit code 3 when --wait runs out of time (the agent stays draining); 78 when the agent was revoked. dc-agent resume takes work again.`,
    )
    .addOption(configOption())
    .addOption(new Option('--wait', 'wait until the agent is drained (exit 0), or the timeout passes (exit 3)').env('DC_AGENT_DRAIN_WAIT'))
    .addOption(new Option('--timeout <seconds>', `how long --wait waits, 0 for no limit (default ${DEFAULT_DRAIN_TIMEOUT_SECONDS}); implies --wait`).env('DC_AGENT_DRAIN_TIMEOUT'))
    .addOption(new Option('--reason <text>', 'why, shown in the dashboard (e.g. "kernel upgrade")').env('DC_AGENT_DRAIN_REASON'))
    .addOption(jsonOption())
    .addHelpText('after', example('dc-agent drain --wait --timeout 900 --reason "kernel upgrade" && systemctl stop dc-agent'))
    .action(async (opts: DrainOptions) => {
      // --timeout on the command line is a request to wait; from the environment it only sets the limit.
      const wait = opts.wait === true || cmd.getOptionValueSource('timeout') === 'cli';
      const timeoutS = parseTimeout(opts.timeout);
      const reason = checkReason(opts.reason);
      const session = openSession(opts.config);
      try {
        const agent = await setOwnState(session, 'draining', reason);
        const say = (line: string) => {
          if (!opts.json) process.stdout.write(line + '\n');
        };
        say(
          `Agent ${describeAgent(agent)} is draining${agent.state_reason ? ` (reason: ${agent.state_reason})` : ''}: dc-api grants it no new provision work; it finishes what it holds and still tears down its own machines.`,
        );
        if (!wait) {
          say(agent.drained ? drainedLine() : `It holds ${leases(agent.live_leases)}. dc-agent drain --wait waits until it holds none.`);
          if (opts.json) process.stdout.write(JSON.stringify(agent, null, 2) + '\n');
          return;
        }
        if (!agent.drained) say(`Waiting ${timeoutS > 0 ? `up to ${timeoutS} s` : 'without a time limit'} until it holds no lease; it holds ${leases(agent.live_leases)} now.`);
        const out = await waitDrained(session, agent, timeoutS, (a: PoolAgent) => say(`  ${leases(a.live_leases)} left`));
        if (opts.json) process.stdout.write(JSON.stringify(out.agent, null, 2) + '\n');
        if (out.drained) {
          say(drainedLine());
          return;
        }
        process.stderr.write(
          `dc-agent: not drained after ${timeoutS} s: it still holds ${leases(out.agent.live_leases)}. It stays draining; wait longer (dc-agent drain --wait) or take work again (dc-agent resume).\n`,
        );
        process.exitCode = EXIT_NOT_DRAINED;
      } finally {
        session.api.close();
      }
    });
  return cmd;
}

function drainedLine(): string {
  return 'Drained: it holds no lease, so it is safe to stop (systemctl stop dc-agent). dc-agent resume takes work again.';
}
