import { Command, Option } from 'commander';
import { loadConfig } from '../config.js';
import { runDaemon } from '../daemon/agent.js';
import { readKeyFile } from '../keys.js';
import { createLogger, parseLevel } from '../log.js';
import { signalHandler } from '../daemon/signals.js';
import { configOption, example } from './options.js';

export interface RunOptions {
  config: string;
  logLevel?: string;
}

export function runCommand(): Command {
  return new Command('run')
    .summary('Run the agent: heartbeat, claim, provision, confirm')
    .description(
      'Run the agent: heartbeat, claim contracts of its pool, provision them, confirm with the lease token. SIGTERM stops taking work, finishes or releases what it holds, exits 0 (a second signal more than a second later aborts running work; one within a second is the same signal delivered twice). Exit code 78: the agent was revoked (systemd does not restart it).',
    )
    .addOption(configOption())
    .addOption(new Option('--log-level <level>', 'debug, info, warn or error (default: agent.log_level)').env('DC_AGENT_LOG_LEVEL'))
    .addHelpText('after', example('dc-agent run --config /etc/dc-agent/config.toml'))
    .action(async (opts: RunOptions) => {
      const config = loadConfig(opts.config);
      const { identity } = readKeyFile(config.keys.privateKeyPath);
      const log = createLogger({ level: parseLevel(opts.logLevel ?? config.agent.logLevel) });
      const stop = new AbortController();
      const force = new AbortController();
      const onSignal = signalHandler({ stop, force, log });
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      const { exitCode, reason } = await runDaemon({ config, identity, log, stop: stop.signal, force: force.signal });
      // The JSON log has it too; stderr is what a person running it by hand (or journalctl) reads first.
      if (reason) process.stderr.write(`dc-agent: ${reason}\n`);
      process.exitCode = exitCode;
    });
}
