import { Command, Option } from 'commander';
import { formatDoctor, runDoctor } from '../doctor.js';
import { configOption, example, jsonOption } from './options.js';

export interface DoctorOptions {
  config: string;
  json?: boolean;
  offline?: boolean;
}

export function doctorCommand(): Command {
  return new Command('doctor')
    .summary('Check config, key, delegation, API and provisioner')
    .description(
      'Check that this host can run the agent: the configuration is valid, the key is readable and matches the delegation, the API is reachable and the delegation active, the provisioner is reachable. Exit code 0 when every check passes, 1 otherwise.',
    )
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(new Option('--offline', 'check only the local files (config, key, delegation)').env('DC_AGENT_DOCTOR_OFFLINE'))
    .addHelpText('after', example('dc-agent doctor --config /etc/dc-agent/config.toml --json'))
    .action(async (opts: DoctorOptions) => {
      const report = await runDoctor(opts.config, { offline: opts.offline });
      process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatDoctor(report));
      process.exitCode = report.ok ? 0 : 1;
    });
}
